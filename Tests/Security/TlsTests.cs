using System.Net;
using System.Net.Sockets;
using GanCluster.Client.Hosting;
using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Security;

/// <summary>
/// Cluster traffic over TLS (Gan:Tls): a silo with a certificate talks to a client with the cluster's certificate, and
/// refuses a client without TLS and a client with a certificate it does not trust.
/// </summary>
public sealed class TlsTests : IAsyncLifetime
{
    private const string Password = "tls-test-pässword-7Q";
    private readonly TempDirectory dir = new();
    private IHost silo = null!;
    private string certificate = null!;
    private int gatewayPort;

    public async Task InitializeAsync()
    {
        certificate = TestCertificates.CreatePfx(dir.Path, "gancluster-test", Password);
        gatewayPort = FreePort();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gan:GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gan:DataDirectory"] = Path.Combine(dir.Path, "data"),
            ["Gan:Compute:Threads"] = "1",
            ["Gan:Tls:CertificatePath"] = certificate,
            ["Gan:Tls:CertificatePassword"] = Password,
        });
        builder.UseOrleans(s => s.UseGanLocalhostClustering(builder.Configuration).AddGanCluster(builder.Configuration));
        silo = builder.Build();
        await silo.StartAsync();
    }

    public async Task DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await silo.StopAsync(stop.Token); } finally { silo.Dispose(); dir.Dispose(); }
    }

    private static IConfiguration Tls(string? path, string? password) => new ConfigurationBuilder()
        .AddInMemoryCollection(new Dictionary<string, string?> { ["Gan:Tls:CertificatePath"] = path, ["Gan:Tls:CertificatePassword"] = password })
        .Build();

    [Fact]
    public async Task A_client_with_the_cluster_certificate_talks_to_a_silo_with_tls()
    {
        await using var client = await ClusterConnection.ConnectAsync($"127.0.0.1:{gatewayPort}", TimeSpan.FromSeconds(30), CancellationToken.None, Tls(certificate, Password));
        var hosts = await client.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        Assert.Single(hosts);
        Assert.Empty(await client.Client.GetGrain<Contracts.Sweeps.ISweepIndexGrain>(0).ListAsync());
    }

    [Fact]
    public async Task A_client_without_tls_cannot_reach_a_silo_with_tls()
    {
        var e = await Assert.ThrowsAsync<ClusterUnreachableException>(() =>
            ClusterConnection.ConnectAsync($"127.0.0.1:{gatewayPort}", TimeSpan.FromSeconds(10), CancellationToken.None, Tls(null, null)));
        Assert.Contains($"cannot reach a GanCluster gateway at 127.0.0.1:{gatewayPort}", e.Message);
    }

    [Fact]
    public async Task A_client_with_another_self_signed_certificate_is_refused()
    {
        string other = TestCertificates.CreatePfx(dir.Path, "not-the-cluster", Password);
        var e = await Assert.ThrowsAsync<ClusterUnreachableException>(() =>
            ClusterConnection.ConnectAsync($"127.0.0.1:{gatewayPort}", TimeSpan.FromSeconds(10), CancellationToken.None, Tls(other, Password)));
        Assert.DoesNotContain(Password, e.Message);
    }

    [Fact]
    public async Task A_second_silo_with_the_cluster_certificate_joins_over_tls()
    {
        // Silo-to-silo traffic: a second silo joins the first (development clustering, the first as primary), both
        // through AddGanCluster with the same Gan:Tls settings; the cluster then lists two active silos.
        int siloPort = FreePort(), gateway = FreePort();
        var primary = new IPEndPoint(IPAddress.Loopback, int.Parse(silo.Services.GetRequiredService<IConfiguration>()["Gan:SiloPort"]!, System.Globalization.CultureInfo.InvariantCulture));
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = Path.Combine(dir.Path, "data2"),
            ["Gan:Compute:Threads"] = "1",
            ["Gan:Tls:CertificatePath"] = certificate,
            ["Gan:Tls:CertificatePassword"] = Password,
        });
        builder.UseOrleans(s => s.UseLocalhostClustering(siloPort, gateway, primary, "gancluster", "gancluster").AddGanCluster(builder.Configuration));
        using var second = builder.Build();
        await second.StartAsync();
        try
        {
            await using var client = await ClusterConnection.ConnectAsync($"127.0.0.1:{gatewayPort}", TimeSpan.FromSeconds(30), CancellationToken.None, Tls(certificate, Password));
            var management = client.Client.GetGrain<IManagementGrain>(0);
            var hosts = await Eventually.WaitAsync(() => management.GetHosts(onlyActive: true), h => h.Count == 2, TimeSpan.FromSeconds(60), "two active silos");
            Assert.Contains(hosts.Keys, a => a.Endpoint.Port == siloPort);
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await second.StopAsync(stop.Token);
        }
    }

    [Fact]
    public void A_wrong_password_or_missing_file_names_the_setting_and_never_the_password()
    {
        var wrong = Assert.Throws<OptionsValidationException>(() => new GanTlsOptions { CertificatePath = certificate, CertificatePassword = "wrong-" + Password }.LoadCertificate());
        Assert.Contains("Gan:Tls:CertificatePath: cannot load", wrong.Message);
        Assert.DoesNotContain(Password, wrong.Message);
        var missing = Assert.Throws<OptionsValidationException>(() => new GanTlsOptions { CertificatePath = Path.Combine(dir.Path, "none.pfx"), CertificatePassword = Password }.LoadCertificate());
        Assert.Contains("none.pfx' does not exist", missing.Message);
        Assert.DoesNotContain(Password, new GanTlsOptions { CertificatePath = certificate, CertificatePassword = Password }.ToString());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
