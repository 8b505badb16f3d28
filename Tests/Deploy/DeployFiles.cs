using System.Reflection;
using GanCluster.Gan.Compute;
using GanCluster.Silo.Hosting;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;
using GanCluster.Grains.Compute;

namespace GanCluster.Tests.Deploy;

/// <summary>The files under deploy/, read as the tools that use them would (YAML with merge keys, Dockerfile lines).</summary>
public static class DeployFiles
{
    public static string RepositoryRoot => GanCluster.Gan.Data.RepositoryRoot.Require();

    public static string DeployDirectory => Path.Combine(RepositoryRoot, "deploy");

    public static string PathOf(params string[] parts) => Path.Combine([DeployDirectory, .. parts]);

    /// <summary>Every YAML document of a file (merge keys resolved), as maps, lists and strings.</summary>
    public static List<object?> LoadYamlDocuments(string path)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new MergingParser(new Parser(new StringReader(File.ReadAllText(path))));
        var documents = new List<object?>();
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
            documents.Add(deserializer.Deserialize<object?>(parser));
        return documents;
    }

    public static Dictionary<object, object?> LoadYaml(string path) => Map(LoadYamlDocuments(path).Single(), path);

    public static Dictionary<object, object?> Map(object? node, string what) =>
        node as Dictionary<object, object?> ?? throw new Xunit.Sdk.XunitException($"{what}: expected a mapping, got {node?.GetType().Name ?? "nothing"}");

    public static List<object?> List(object? node, string what) =>
        node as List<object?> ?? throw new Xunit.Sdk.XunitException($"{what}: expected a list, got {node?.GetType().Name ?? "nothing"}");

    /// <summary>The value at a path of keys, or null.</summary>
    public static object? At(object? node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not Dictionary<object, object?> map || !map.TryGetValue(key, out node)) return null;
        }
        return node;
    }

    public static string? Text(object? node, params string[] path) => At(node, path)?.ToString();

    /// <summary>A Dockerfile's instructions (continuation lines joined, comments dropped), as (INSTRUCTION, arguments).</summary>
    public static List<(string Instruction, string Arguments)> Dockerfile(string path)
    {
        var instructions = new List<(string, string)>();
        string pending = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            string line = raw.Trim();
            if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#'))) continue;
            if (line.EndsWith('\\')) { pending += line[..^1] + " "; continue; }
            line = pending + line;
            pending = "";
            int space = line.IndexOf(' ');
            instructions.Add((line[..space].ToUpperInvariant(), line[(space + 1)..].Trim()));
        }
        return instructions;
    }
}

/// <summary>
/// The configuration keys the silo reads, found from the options classes it binds, so that a deploy file naming a key
/// the silo does not know (a typo, a renamed setting) fails a test.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>Environment variables that are not GanCluster settings but that the deploy files set on purpose.</summary>
    public static readonly HashSet<string> OtherEnvironment = new(StringComparer.Ordinal)
    {
        "ASPNETCORE_URLS",                                                      // --urls: /metrics and /health
        "POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_CLUSTER_ID", "ORLEANS_SERVICE_ID", // Orleans' Kubernetes hosting
        "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",                // the NVIDIA container toolkit
    };

    // Settings of COMMON.md that other parts of the same issue add (Redis clustering, device placement). They count as
    // known only while no options class of this build binds their section; once one does, the real class decides.
    private static readonly string[] PendingClusterKeys = ["Gan:Cluster:Redis", "Gan:Cluster:AdvertisedIp", "Gan:Cluster:ListenIp"];
    private static readonly string[] PendingComputeKeys = ["Gan:Compute:WorkersPerDevice", "Gan:Compute:CoordinationOnly"];

    public static HashSet<string> Known()
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        AddProperties(keys, GanSiloOptions.Section, typeof(GanSiloOptions));
        AddProperties(keys, "Gan:Compute", typeof(ComputeOptions)); // bound in AddGanCluster
        AddProperties(keys, GanTlsOptions.Section, typeof(GanTlsOptions));
        keys.Add("Gan:Logging:Format");                              // read by GanSiloApp.ConfigureGanLogging
        keys.Add(KubernetesHosting.Key);
        keys.Add(GanDashboard.Key);                                  // read by GanSiloApp.AddGanSilo
        // Any other options class of GanCluster's assemblies that names its section ("public const string Section").
        foreach (var assembly in new[] { typeof(GanSiloOptions).Assembly, typeof(KubernetesHosting).Assembly })
            foreach (var type in assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false }))
                if (type.GetField("Section", BindingFlags.Public | BindingFlags.Static)?.GetRawConstantValue() is string section && section.StartsWith("Gan", StringComparison.Ordinal))
                    AddProperties(keys, section, type);
        if (!keys.Any(k => k.StartsWith("Gan:Cluster:", StringComparison.OrdinalIgnoreCase) && !k.Equals(KubernetesHosting.Key, StringComparison.OrdinalIgnoreCase)))
            keys.UnionWith(PendingClusterKeys);
        if (typeof(ComputeOptions).GetProperty("WorkersPerDevice") is null)
            keys.UnionWith(PendingComputeKeys);
        return keys;
    }

    /// <summary>"Gan__Compute__Device" → "Gan:Compute:Device" (how .NET maps environment variables to configuration keys).</summary>
    public static string FromEnvironment(string name) => name.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>The problems with a set of environment variables: each Gan__ one must be a known key.</summary>
    public static List<string> UnknownIn(IEnumerable<string> environmentNames, string where)
    {
        var known = Known();
        var problems = new List<string>();
        foreach (var name in environmentNames)
        {
            if (name.StartsWith("Gan__", StringComparison.Ordinal))
            {
                if (!known.Contains(FromEnvironment(name))) problems.Add($"{where}: {name} is not a setting the silo reads");
            }
            else if (!OtherEnvironment.Contains(name) && !name.StartsWith("GF_", StringComparison.Ordinal))
                problems.Add($"{where}: {name} is neither a GanCluster setting nor a known variable");
        }
        return problems;
    }

    private static void AddProperties(HashSet<string> keys, string prefix, Type type, int depth = 0)
    {
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var t = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            if (t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan) || t == typeof(decimal) || depth > 4)
                keys.Add($"{prefix}:{p.Name}");
            else if (t.IsClass)
                AddProperties(keys, $"{prefix}:{p.Name}", t, depth + 1);
        }
    }
}
