using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using GanCluster.Gan.Specs;

namespace GanCluster.Grains.Sweeps;

/// <summary>What the sweep shows: its status and table, pushed to observers and to gancluster_sweep_members.</summary>
public sealed partial class SweepGrain
{
    /// <summary>The sweep's member counts by state for gancluster_sweep_members (queued = not started yet).</summary>
    private void PublishCounts()
    {
        if (state.State.Spec is null) return;
        metrics.PublishSweep(SweepId, state.State.Members
            .GroupBy(m => m.Started || m.State.IsFinished() ? Telemetry.GanMetrics.StateLabel(m.State) : Telemetry.GanMetrics.Queued)
            .ToDictionary(g => g.Key, g => g.Count()));
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.ForgetSweep(SweepId);
        return Task.CompletedTask;
    }

    private void Notify(bool force)
    {
        PublishCounts();
        if (!force && DateTime.UtcNow - lastNotify < NotifyInterval) return;
        lastNotify = DateTime.UtcNow;
        var status = Status();
        observers.Notify(o => o.OnSweepProgressAsync(status));
    }

    private SweepStatus Status()
    {
        var s = state.State;
        return new SweepStatus
        {
            SweepId = SweepId,
            State = s.State,
            Strategy = s.Spec?.Search?.Strategy ?? "",
            Concurrency = s.Spec?.Search?.Concurrency ?? 0,
            MostRunning = s.MostRunning,
            Fitness = s.Spec is null ? "" : Contracts.Members.Fitness.Describe(SpecValidator.IsImageData(s.Spec.Data.Kind)),
            Lineage = s.PopulationLineage.OrderBy(p => p.Key).SelectMany(p => p.Value).OrderBy(e => e.Step).ToArray(),
            Members = s.Members.Select(m => new SweepMember(m.MemberId, m.Population, m.State, m.Step, m.Spec.Training.Steps, m.Fitness,
                SearchSpace.Describe(m.Hyperparameters), m.Started)).ToArray(),
        };
    }
}
