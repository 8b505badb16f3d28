using Microsoft.Extensions.Logging;

namespace GanCluster.Grains.Telemetry;

/// <summary>Log lines of a multi-machine cluster: failures, recoveries, and where grains live.</summary>
public static partial class ClusterLog
{
    [LoggerMessage(301, LogLevel.Information, "Member {MemberId} recovered: continuing from step {Step} (attempt {Attempt}, {Seconds:F1} s)")]
    public static partial void MemberRecovered(ILogger logger, string memberId, long step, int attempt, double seconds);

    [LoggerMessage(302, LogLevel.Warning, "Member {MemberId}: reloading its workers failed (attempt {Attempt}: {Error}: {Reason}); retrying")]
    public static partial void RecoveryRetrying(ILogger logger, string memberId, int attempt, string error, string reason);

    [LoggerMessage(303, LogLevel.Information, "Member {MemberId}: {Role} ready at step {Step} on {Device}")]
    public static partial void WorkerReady(ILogger logger, string memberId, string role, long step, string device);

    [LoggerMessage(304, LogLevel.Information, "Sweep {SweepId} active on this silo ({State})")]
    public static partial void SweepActivated(ILogger logger, string sweepId, string state);

    [LoggerMessage(305, LogLevel.Warning, "Silo {Silo} was declared dead; waking the {Members} members that were training and the sweeps")]
    public static partial void SiloDeclaredDead(ILogger logger, string silo, int members);

    [LoggerMessage(306, LogLevel.Warning, "Could not wake {Kind} {Id} after a silo died ({Reason}); its next caller will")]
    public static partial void WakeFailed(ILogger logger, string kind, string id, string reason);

    [LoggerMessage(307, LogLevel.Information, "Cluster mode: membership, grain state and checkpoints in Redis at {Redis}; silo {AdvertisedIp}:{SiloPort}, gateway {GatewayPort}; probe timeout {ProbeTimeout}, {MissedProbes} missed probes, response timeout {ResponseTimeout}")]
    public static partial void ClusterMode(ILogger logger, string redis, string advertisedIp, int siloPort, int gatewayPort, TimeSpan probeTimeout, int missedProbes, TimeSpan responseTimeout);

    [LoggerMessage(308, LogLevel.Warning, "Member {MemberId}: another activation of this member took over at step {Step} ({Reason}); this one stops")]
    public static partial void MemberSuperseded(ILogger logger, string memberId, long step, string reason);
}
