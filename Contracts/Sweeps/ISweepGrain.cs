using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using Orleans.Concurrency;

namespace GanCluster.Contracts.Sweeps;

/// <summary>
/// A submitted sweep: expands the spec into members, starts them under the concurrency limit, keeps the leaderboard.
/// Keyed by sweep id; it keeps going without its client.
/// </summary>
[Alias("gan.ISweep")]
public interface ISweepGrain : IGrainWithStringKey
{
    /// <summary>Plans and starts the sweep; idempotent for the same spec.</summary>
    [Alias("Submit"), ResponseTimeout("00:05:00")] ValueTask<SweepStatus> SubmitAsync(GanSpec spec);
    [Alias("GetStatus")] ValueTask<SweepStatus> GetStatusAsync();
    [Alias("Pause"), ResponseTimeout("00:05:00")] ValueTask<SweepStatus> PauseAsync();
    [Alias("Resume"), ResponseTimeout("00:05:00")] ValueTask<SweepStatus> ResumeAsync();
    /// <summary>Cancels every member (each leaves a checkpoint) and starts no more.</summary>
    [Alias("Cancel"), ResponseTimeout("00:05:00")] ValueTask<SweepStatus> CancelAsync();
    [Alias("Subscribe")] ValueTask SubscribeAsync(ISweepObserver observer);
    [Alias("Unsubscribe")] ValueTask UnsubscribeAsync(ISweepObserver observer);
    /// <summary>From a member's coordinator: its latest status.</summary>
    [Alias("MemberUpdated"), OneWay] Task MemberUpdatedAsync(MemberStatus status);
    /// <summary>
    /// PBT: a member at an interval reports its fitness and its checkpoint at this step. Rounds are synchronous per
    /// population: the answer is Wait until every running member of the population has reported at this step (the
    /// sweep then tells the waiting members, <see cref="Members.ICoordinatorGrain.PbtRoundMovedAsync"/>, and they
    /// report again), then Continue or Exploit, decided on the whole round's ranking (so a sweep's lineage repeats by its seed). A report
    /// with no fitness (a diverged member) is answered at once, from the latest round. Interleaves with the sweep's
    /// own calls, so a member asking here never deadlocks with it.
    /// </summary>
    [Alias("PbtReport"), AlwaysInterleave] ValueTask<PbtVerdict> PbtReportAsync(string memberId, long step, double? fitness,
        Workers.CheckpointFile generator, Workers.CheckpointFile discriminator);
}

[Alias("gan.ISweepObserver")]
public interface ISweepObserver : IGrainObserver
{
    [Alias("OnSweepProgress"), OneWay] Task OnSweepProgressAsync(SweepStatus status);
}
