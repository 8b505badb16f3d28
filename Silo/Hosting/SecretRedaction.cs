using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Masks secrets in text bound for a log line, an exception message or a console: passwords in connection strings
/// (StackExchange.Redis' <c>host:6379,password=…</c>, ADO's <c>Password=…;</c>), the user-info of URIs
/// (<c>redis://user:…@host</c>), and the exact values of the secrets this process was configured with.
/// </summary>
public static partial class SecretRedaction
{
    public const string Mask = "***";

    /// <summary>Configuration keys whose values are secrets (never logged, never exported).</summary>
    public static readonly string[] SecretKeys = ["Gan:Tls:CertificatePassword"];

    /// <summary>Configuration keys that may embed a secret (a password inside a connection string).</summary>
    public static readonly string[] ConnectionKeys = ["Gan:Cluster:Redis"];

    // key=value or key: value where the key names a password or secret (connection strings, option dumps).
    [GeneratedRegex(@"(?i)(\b\w*(?:password|passwd|pwd|secret|apikey)\w*)(""?\s*[=:]\s*)(""?)([^,;\s""'&]+)")]
    private static partial Regex KeyValue();

    // The user-info of a URI: scheme://user:password@host.
    [GeneratedRegex(@"(?i)\b([a-z][a-z0-9+.\-]*://)([^/@\s:]*):([^/@\s]+)@")]
    private static partial Regex UriUserInfo();

    /// <summary>The text with every recognisable secret, and each of <paramref name="knownSecrets"/>, masked.</summary>
    public static string Redact(string? text, params IEnumerable<string?> knownSecrets)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        foreach (var secret in knownSecrets)
            if (!string.IsNullOrEmpty(secret) && secret.Length >= 3)
                text = text.Replace(secret, Mask, StringComparison.Ordinal);
        text = KeyValue().Replace(text, m => m.Groups[4].Value == Mask ? m.Value : $"{m.Groups[1].Value}{m.Groups[2].Value}{m.Groups[3].Value}{Mask}");
        text = UriUserInfo().Replace(text, m => $"{m.Groups[1].Value}{m.Groups[2].Value}:{Mask}@");
        return text;
    }

    /// <summary>The secret values in a configuration: the secret keys' values and passwords inside connection strings.</summary>
    public static IReadOnlyList<string> SecretsIn(IConfiguration configuration)
    {
        var secrets = new List<string>();
        foreach (var key in SecretKeys)
            if (configuration[key] is { Length: > 0 } value) secrets.Add(value);
        foreach (var key in ConnectionKeys)
            if (configuration[key] is { Length: > 0 } value) secrets.AddRange(PasswordsIn(value));
        return secrets;
    }

    /// <summary>Passwords embedded in a connection string or URI.</summary>
    public static IEnumerable<string> PasswordsIn(string connection)
    {
        foreach (Match m in KeyValue().Matches(connection)) yield return m.Groups[4].Value;
        foreach (Match m in UriUserInfo().Matches(connection)) yield return Uri.UnescapeDataString(m.Groups[3].Value);
    }
}
