using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace GanCluster.Tests.Security;

/// <summary>Self-signed cluster certificates for TLS tests, written as password-protected PKCS#12 files.</summary>
public static class TestCertificates
{
    public static string CreatePfx(string directory, string subject, string password)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(subject);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string path = Path.Combine(directory, $"{subject}.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return path;
    }
}
