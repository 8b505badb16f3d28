using Microsoft.Extensions.Configuration;

namespace GanCluster.Grains;

/// <summary>
/// Configuration section "Gan:Cluster": a multi-machine cluster whose membership, grain state and checkpoints live in
/// Redis, and the failure-detection timeouts chosen for training steps. Empty <see cref="Redis"/> = the embedded
/// one-machine cluster.
/// </summary>
public sealed class GanClusterOptions
{
    public const string Section = "Gan:Cluster";
    /// <summary>"HOST:PORT", "redis://HOST:PORT" or a StackExchange.Redis configuration string; empty = embedded.</summary>
    public string Redis { get; set; } = "";
    /// <summary>The address other silos and clients reach this silo at (must be routable from them on several machines).</summary>
    public string AdvertisedIp { get; set; } = "127.0.0.1";
    /// <summary>The address the silo and gateway ports are bound to (0.0.0.0 = every interface).</summary>
    public string ListenIp { get; set; } = "127.0.0.1";
    /// <summary>How long a liveness probe may take before it counts as missed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Missed probes after which a silo is suspected; the silos that suspect it vote it dead.</summary>
    public int MissedProbesLimit { get; set; } = 2;
    /// <summary>How long a grain call may take before it fails (a call in flight to a silo that died waits this long).</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// After a silo dies, its grains may re-activate elsewhere only this long after its estimated failure time (Orleans'
    /// safety lease, in case it is cut off rather than dead; 30 s in Orleans). It must outlast the time a cut-off silo
    /// needs to learn that it was declared dead (the 5 s table refresh) — it bounds how fast a member moves.
    /// </summary>
    public TimeSpan DirectoryLeaseDuration { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a member keeps retrying a failed step (reloading its workers from the last checkpoint) before it fails.</summary>
    public TimeSpan StepRecoveryTimeout { get; set; } = TimeSpan.FromSeconds(90);

    public bool IsCluster => !string.IsNullOrWhiteSpace(Redis);

    public static GanClusterOptions From(IConfiguration configuration) =>
        configuration.GetSection(Section).Get<GanClusterOptions>() ?? new GanClusterOptions();
}
