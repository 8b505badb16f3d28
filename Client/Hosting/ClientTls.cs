using Microsoft.Extensions.Configuration;
using GanCluster.Silo.Hosting;

namespace GanCluster.Client.Hosting;

/// <summary>The client's side of cluster TLS: the same Gan:Tls settings as the silos (GANCLUSTER_Gan__Tls__… for the client).</summary>
public static class ClientTls
{
    /// <summary>With Gan:Tls:CertificatePath set, the gateway connection is TLS, presenting that certificate.</summary>
    public static IClientBuilder UseGanTls(this IClientBuilder client, IConfiguration configuration)
    {
        var options = GanTlsOptions.From(configuration);
        if (!options.Enabled) return client;
        var certificate = options.LoadCertificate();
        return client.UseTls(certificate, tls => TlsHosting.Configure(tls, certificate));
    }
}
