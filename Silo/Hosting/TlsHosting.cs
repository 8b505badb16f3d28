using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Configuration section "Gan:Tls": the certificate (PKCS#12 / .pfx, with its private key) that encrypts silo-to-silo
/// and client-to-silo traffic. Empty path = no TLS (the default). The password is a secret: it is never logged,
/// never put in an exception message and never exported as a metric.
/// </summary>
public sealed class GanTlsOptions
{
    public const string Section = "Gan:Tls";

    public string? CertificatePath { get; set; }

    [Redact]
    public string? CertificatePassword { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);

    public static GanTlsOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<GanTlsOptions>() ?? new GanTlsOptions();

    /// <summary>Never prints the password (an accidental <c>{Options}</c> in a log line stays harmless).</summary>
    public override string ToString() =>
        $"CertificatePath={CertificatePath ?? "(none)"}, CertificatePassword={(string.IsNullOrEmpty(CertificatePassword) ? "(none)" : SecretRedaction.Mask)}";

    /// <summary>
    /// Loads the certificate; a missing, unreadable or password-protected-but-wrong file is an
    /// <see cref="OptionsValidationException"/> naming the setting and the path, never the password.
    /// </summary>
    public X509Certificate2 LoadCertificate()
    {
        string path = Path.GetFullPath(CertificatePath!);
        if (!File.Exists(path)) throw Invalid($"Gan:Tls:CertificatePath: file '{path}' does not exist");
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, CertificatePassword, X509KeyStorageFlags.EphemeralKeySet);
        }
        catch (CryptographicException e)
        {
            // The message of a PKCS#12 failure names the problem ("The certificate data cannot be read with the
            // provided password"), never the password itself; redact anyway in case a platform ever did.
            throw Invalid($"Gan:Tls:CertificatePath: cannot load '{path}' as a PKCS#12 certificate with Gan:Tls:CertificatePassword: {SecretRedaction.Redact(e.Message, CertificatePassword)}");
        }
        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw Invalid($"Gan:Tls:CertificatePath: '{path}' holds no private key (TLS needs the certificate with its key, a .pfx)");
        }
        return certificate;
    }

    private static OptionsValidationException Invalid(string message) => new(Section, typeof(GanTlsOptions), [message]);
}

/// <summary>TLS for the silo's cluster and gateway connections (Microsoft.Orleans.Connections.Security).</summary>
public static class TlsHosting
{
    /// <summary>With Gan:Tls:CertificatePath set, every silo and gateway connection is TLS (mutual: peers present a certificate).</summary>
    public static ISiloBuilder UseGanTls(this ISiloBuilder silo, IConfiguration configuration) =>
        UseGanTls(silo, GanTlsOptions.From(configuration) is { Enabled: true } options ? options.LoadCertificate() : null);

    /// <summary>TLS with an already loaded certificate (null: none), so that the silo loads it once for all its uses.</summary>
    public static ISiloBuilder UseGanTls(this ISiloBuilder silo, X509Certificate2? certificate) =>
        certificate is null ? silo : silo.UseTls(certificate, tls => Configure(tls, certificate));

    /// <summary>
    /// The acceptance rule for a remote certificate: its chain validates against the machine's trust store, or it is
    /// the cluster's own certificate, pinned by its SHA-256 thumbprint.
    /// </summary>
    public static Func<X509Certificate?, SslPolicyErrors, bool> RemoteCertificateRule(X509Certificate2 certificate)
    {
        string pinned = certificate.GetCertHashString(HashAlgorithmName.SHA256);
        return (remote, errors) =>
            errors == SslPolicyErrors.None
            || (remote is not null && string.Equals(remote.GetCertHashString(HashAlgorithmName.SHA256), pinned, StringComparison.OrdinalIgnoreCase)
                && (errors & SslPolicyErrors.RemoteCertificateNotAvailable) == 0);
    }

    /// <summary>
    /// Both ends present the certificate and require one from the other. A remote certificate is accepted when its
    /// chain validates against the machine's trust store, or when it is the cluster's own certificate (the usual
    /// deployment: one self-signed certificate shared by every silo and client, pinned by its SHA-256 thumbprint).
    /// </summary>
    public static void Configure(TlsOptions tls, X509Certificate2 certificate)
    {
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        var accepts = RemoteCertificateRule(certificate);
        tls.RemoteCertificateValidation = (remote, _, errors) => accepts(remote, errors);
        tls.OnAuthenticateAsClient = (_, client) => client.TargetHost ??= certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
    }
}
