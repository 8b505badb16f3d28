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
    /// <summary>From a PBT population after an exploit: the sweep reads its lineage and hyperparameters back.</summary>
    [Alias("PopulationChanged"), OneWay] Task PopulationChangedAsync(string populationId);
}

[Alias("gan.ISweepObserver")]
public interface ISweepObserver : IGrainObserver
{
    [Alias("OnSweepProgress"), OneWay] Task OnSweepProgressAsync(SweepStatus status);
}
