using System.Net;
using System.Net.Sockets;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;
using GanCluster.Grains;

namespace GanCluster.Silo.Hosting;

public static class RedisHosting
{
    /// <summary>A Redis connection as StackExchange.Redis takes it; "redis://HOST:PORT" is accepted for the command line.</summary>
    public static ConfigurationOptions ParseRedis(string value)
    {
        string text = value.Trim();
        if (text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)) text = text["redis://".Length..].TrimEnd('/');
        if (text.Length == 0) throw new ArgumentException("Gan:Cluster:Redis: empty Redis address (expected HOST:PORT or redis://HOST:PORT)");
        ConfigurationOptions options;
        try { options = ConfigurationOptions.Parse(text); }
        catch (ArgumentException e) { throw new ArgumentException($"Gan:Cluster:Redis: not a Redis address or configuration string: {e.Message}", e); }
        if (options.EndPoints.Count == 0) throw new ArgumentException("Gan:Cluster:Redis: names no Redis endpoint (expected HOST:PORT or redis://HOST:PORT)");
        // The multiplexer's own log and the password never go to the console.
        options.ClientName = "gancluster";
        return options;
    }

    /// <summary>The Redis endpoints without the password or any other setting, for log lines and messages.</summary>
    public static string DescribeRedis(ConfigurationOptions options) => string.Join(",", options.EndPoints.Select(e => e.ToString()));

    /// <summary>
    /// The silo's command line accepts <c>--cluster redis://HOST:PORT</c> as a short form of
    /// <c>--Gan:Cluster:Redis HOST:PORT</c>.
    /// </summary>
    public static string[] TranslateClusterArgument(string[] args)
    {
        var result = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? value = null;
            if (a == "--cluster")
            {
                if (i + 1 >= args.Length) throw new ArgumentException("--cluster needs a value: redis://HOST:PORT");
                value = args[++i];
            }
            else if (a.StartsWith("--cluster=", StringComparison.Ordinal)) value = a["--cluster=".Length..];
            if (value is null) { result.Add(a); continue; }
            if (!value.StartsWith("redis://", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--cluster: a silo joins a cluster through Redis: expected redis://HOST:PORT, got '{value}'");
            result.Add("--Gan:Cluster:Redis");
            result.Add(value);
        }
        return [.. result];
    }

    /// <summary>
    /// Redis clustering when Gan:Cluster:Redis is set (membership in Redis, endpoints on the configured addresses,
    /// failure detection tuned for training steps), the embedded localhost cluster otherwise.
    /// </summary>
    public static ISiloBuilder UseGanClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var cluster = GanClusterOptions.From(configuration);
        if (!cluster.IsCluster) return silo.UseGanLocalhostClustering(configuration);

        var gan = configuration.GetSection(GanSiloOptions.Section).Get<GanSiloOptions>() ?? new GanSiloOptions();
        if (gan.SiloPort is < 1 or > 65535) throw new ArgumentException($"Gan:SiloPort must be a TCP port, got {gan.SiloPort}");
        if (gan.GatewayPort is < 0 or > 65535) throw new ArgumentException($"Gan:GatewayPort must be a TCP port or 0 (no gateway), got {gan.GatewayPort}");
        Validate(cluster);
        var redis = RedisHosting.ParseRedis(cluster.Redis);
        var advertised = ResolveAddress(cluster.AdvertisedIp, "Gan:Cluster:AdvertisedIp");
        var listen = ResolveAddress(cluster.ListenIp, "Gan:Cluster:ListenIp");

        silo.Configure<ClusterOptions>(o => { o.ClusterId = gan.ClusterId; o.ServiceId = gan.ServiceId; });
        silo.Configure<EndpointOptions>(o =>
        {
            o.AdvertisedIPAddress = advertised;
            o.SiloPort = gan.SiloPort;
            o.GatewayPort = gan.GatewayPort;
            o.SiloListeningEndpoint = new IPEndPoint(listen, gan.SiloPort);
            o.GatewayListeningEndpoint = gan.GatewayPort > 0 ? new IPEndPoint(listen, gan.GatewayPort) : null;
        });
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = cluster.ProbeTimeout;
            o.NumMissedProbesLimit = cluster.MissedProbesLimit;
            // A silo cut off from the others learns from the table that it was declared dead (and stops) within this.
            o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
        });
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = cluster.ResponseTimeout);
        // The default directory can lose entries with a crashed silo and then let a second activation of a live grain
        // start (two coordinators training one member); the distributed directory recovers them from the hosts.
#pragma warning disable ORLEANSEXP003
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        silo.Configure<GrainDirectoryOptions>(o => o.RangeLeaseDuration = cluster.DirectoryLeaseDuration);
        return silo;
    }

    /// <summary>Cluster mode: the "gan-store" grain storage and the checkpoint store in Redis (called by AddGanCluster).</summary>
    internal static void AddGanRedisStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        var cluster = GanClusterOptions.From(configuration);
        var gan = configuration.GetSection(GanSiloOptions.Section).Get<GanSiloOptions>() ?? new GanSiloOptions();
        var redis = RedisHosting.ParseRedis(cluster.Redis);
        silo.AddRedisGrainStorage(GanStorage.Name, o =>
        {
            o.ConfigurationOptions = redis.Clone();
            // System.Text.Json without .NET type names: renaming or moving a state class never breaks reading it.
            o.GrainStorageSerializer = new GanStateSerializer();
        });
        silo.Services.AddSingleton<ICheckpointStore>(sp => new RedisCheckpointStore(redis.Clone(), $"{gan.ServiceId}/checkpoints",
            sp.GetRequiredService<ILogger<RedisCheckpointStore>>()));
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, MemberRescuer>();
    }

    private static void Validate(GanClusterOptions c)
    {
        var problems = new List<string>();
        if (c.ProbeTimeout <= TimeSpan.Zero || c.ProbeTimeout > TimeSpan.FromMinutes(5)) problems.Add($"Gan:Cluster:ProbeTimeout must be between 0 and 5 minutes, got {c.ProbeTimeout}");
        if (c.MissedProbesLimit is < 1 or > 100) problems.Add($"Gan:Cluster:MissedProbesLimit must be between 1 and 100, got {c.MissedProbesLimit}");
        if (c.ResponseTimeout < TimeSpan.FromMilliseconds(100) || c.ResponseTimeout > TimeSpan.FromHours(1)) problems.Add($"Gan:Cluster:ResponseTimeout must be between 100 ms and 1 hour, got {c.ResponseTimeout}");
        if (c.DirectoryLeaseDuration < TimeSpan.Zero || c.DirectoryLeaseDuration > TimeSpan.FromMinutes(10)) problems.Add($"Gan:Cluster:DirectoryLeaseDuration must be between 0 and 10 minutes, got {c.DirectoryLeaseDuration}");
        if (c.StepRecoveryTimeout < TimeSpan.Zero || c.StepRecoveryTimeout > TimeSpan.FromDays(1)) problems.Add($"Gan:Cluster:StepRecoveryTimeout must be between 0 and 1 day, got {c.StepRecoveryTimeout}");
        if (problems.Count > 0) throw new OptionsValidationException(GanClusterOptions.Section, typeof(GanClusterOptions), problems);
    }

    private static IPAddress ResolveAddress(string value, string key)
    {
        if (IPAddress.TryParse(value, out var ip)) return ip;
        try
        {
            return Dns.GetHostAddresses(value).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? throw new ArgumentException($"{key}: host '{value}' has no IPv4 address");
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"{key}: '{value}' is neither an IP address nor a resolvable host name ({e.Message})", e);
        }
    }
}
