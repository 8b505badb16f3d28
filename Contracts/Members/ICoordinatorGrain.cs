using Orleans.Concurrency;
using GanCluster.Gan.Specs;

namespace GanCluster.Contracts.Members;

/// <summary>One per member: runs the alternating schedule between its generator and discriminator workers.</summary>
[Alias("gan.ICoordinator")]
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>Starts training the spec; idempotent for the same spec, refused for a different one.</summary>
    [Alias("Start"), ResponseTimeout("00:05:00")] ValueTask<MemberStatus> StartAsync(GanSpec spec);
    /// <summary>Starts the member as part of a sweep, to which it reports its progress.</summary>
    /// <param name="pbtInterval">Population-based training: report to the sweep every this many steps; 0 for none.</param>
    [Alias("StartInSweep"), ResponseTimeout("00:05:00")] ValueTask<MemberStatus> StartInSweepAsync(GanSpec spec, string sweepId, long pbtInterval);
    [Alias("GetStatus")] ValueTask<MemberStatus> GetStatusAsync();
    [Alias("GetReport")] ValueTask<MemberReport> GetReportAsync();
    /// <summary>Stops stepping after the current step and writes a checkpoint.</summary>
    [Alias("Pause"), ResponseTimeout("00:05:00")] ValueTask<MemberStatus> PauseAsync();
    [Alias("Resume"), ResponseTimeout("00:05:00")] ValueTask<MemberStatus> ResumeAsync();
    /// <summary>Stops for good, leaving a checkpoint at the current step.</summary>
    [Alias("Cancel"), ResponseTimeout("00:05:00")] ValueTask<MemberStatus> CancelAsync();
    /// <summary>Checkpoints and stops the loop without changing the member's state, then deactivates (silo shutdown).</summary>
    [Alias("Suspend"), ResponseTimeout("00:05:00")] ValueTask SuspendAsync();
    /// <summary>
    /// PBT: from the population, when a round this member waits for may be complete (a member of its population reported
    /// or finished): the member asks for its verdict again, at once, instead of polling.
    /// </summary>
    [Alias("PbtRoundMoved"), OneWay] Task PbtRoundMovedAsync();
    [Alias("Subscribe")] ValueTask SubscribeAsync(IMemberObserver observer);
    [Alias("Unsubscribe")] ValueTask UnsubscribeAsync(IMemberObserver observer);
}
