using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Utilities;
using GanCluster.Grains.Placement;

namespace GanCluster.Grains.Sweeps;

/// <summary>A sweep's persisted state: its spec and, per member, the plan and the last status heard.</summary>
public sealed class SweepGrainState
{
    public GanSpec? Spec { get; set; }
    public SweepState State { get; set; }
    public List<SweepMemberState> Members { get; set; } = [];
    public int MostRunning { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>PBT: each population's lineage as it last told (its <see cref="PopulationGrain"/> owns it).</summary>
    public Dictionary<int, List<LineageEntry>> PopulationLineage { get; set; } = [];
}

public sealed class SweepMemberState
{
    public required string MemberId { get; set; }
    public int Population { get; set; }
    public required GanSpec Spec { get; set; }
    public Dictionary<string, string> Hyperparameters { get; set; } = [];
    public bool Started { get; set; }
    public MemberState State { get; set; } = MemberState.Pending;
    public long Step { get; set; }
    public double? Fitness { get; set; }
    /// <summary>Fitness at each evaluated step, for median stopping.</summary>
    public Dictionary<long, double> FitnessByStep { get; set; } = [];
    public bool StoppedEarly { get; set; }
}

/// <summary>
/// Expands a sweep spec into members and starts them, never more than the concurrency limit at once; members report
/// back here (one-way), which frees a slot when one finishes. The state is persisted, so a sweep carries on without
/// its client and across silo restarts (its members resume and report again).
/// </summary>
/// <remarks>Spread like the coordinators (<see cref="Members.CoordinatorGrain"/>): several sweeps do not pile up on the gateway's silo.</remarks>
[ActivationCountBasedPlacement]
public sealed partial class SweepGrain(
    [PersistentState("sweep", GanStorage.Name)] IPersistentState<SweepGrainState> state,
    Telemetry.GanMetrics metrics,
    ILogger<SweepGrain> logger) : Grain, ISweepGrain
{
    private static readonly TimeSpan NotifyInterval = TimeSpan.FromMilliseconds(500);
    private readonly ObserverManager<ISweepObserver> observers = new(TimeSpan.FromMinutes(5), logger);
    private DateTime lastNotify = DateTime.MinValue;
    private bool pumping;
    // PBT reports interleave with the sweep's other calls: state writes go one at a time.
    private readonly SemaphoreSlim writes = new(1, 1);

    private async Task SaveAsync()
    {
        await writes.WaitAsync();
        try { await state.WriteStateAsync(); }
        finally { writes.Release(); }
    }

    private string SweepId => this.GetPrimaryKeyString();

    private IGrainTimer? reconcile;

    /// <summary>
    /// Members report one-way; every few seconds the sweep also asks its unfinished members directly, so that a lost
    /// report can never leave a slot taken or a finished sweep shown running.
    /// </summary>
    private async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        PublishCounts();
        if (state.State.Spec is null || state.State.State is SweepState.Completed or SweepState.Cancelled) return;
        bool finished = false;
        foreach (var m in state.State.Members.Where(m => m.Started && !m.State.IsFinished()).ToList())
        {
            try
            {
                var status = await Coordinator(m).GetStatusAsync();
                Record(status);
                finished |= status.State.IsFinished();
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                // The member's silo may be restarting; the next round asks again.
            }
        }
        if (await SyncPopulationsAsync() | finished) await SaveAsync();
        if (finished) await PumpAsync();
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        reconcile = this.RegisterGrainTimer(ReconcileAsync, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        if (state.State.Spec is not null) Telemetry.ClusterLog.SweepActivated(logger, SweepId, state.State.State.ToString());
        // After a restart, start whatever the concurrency limit allows (members that were running resume themselves).
        if (state.State.Spec is not null && state.State.State == SweepState.Running) _ = PumpAsync();
        return Task.CompletedTask;
    }

    public async ValueTask<SweepStatus> SubmitAsync(GanSpec spec)
    {
        if (state.State.Spec is not null)
        {
            if (SpecLoader.ToJson(state.State.Spec) != SpecLoader.ToJson(spec))
                throw new ConflictingSpecException($"sweep {SweepId} already exists with a different spec; choose another sweep id (--sweep ID)");
            await IndexAsync(); // a no-op once indexed; heals a submit that stopped between its save and its index
            return Status();
        }
        if (ServiceProvider.GetService<IDeviceAvailability>()?.Problem(spec.Device) is { } deviceProblem) throw new SpecException([deviceProblem]);
        FileCheckpointStore.SafeName(SweepId);
        var plans = SweepPlanner.Plan(SweepId, spec);
        var devices = ServiceProvider.GetRequiredService<ClusterDevices>();
        if (plans.Select(p => devices.TooLarge(p.Spec, p.Hyperparameters.Count == 0 ? null : string.Join(", ", p.Hyperparameters.Select(h => $"{h.Key}={h.Value}")))).OfType<string>().ToList() is { Count: > 0 } tooLarge)
            throw new SpecException(tooLarge);
        state.State = new SweepGrainState
        {
            Spec = spec,
            State = SweepState.Running,
            CreatedAt = DateTimeOffset.UtcNow,
            Members = plans.Select(p => new SweepMemberState
            {
                MemberId = p.MemberId,
                Population = p.Population,
                Spec = p.Spec,
                Hyperparameters = new Dictionary<string, string>(p.Hyperparameters),
                State = MemberState.Pending,
            }).ToList(),
        };
        await SaveAsync();
        Telemetry.ClusterLog.SweepActivated(logger, SweepId, "submitted");
        await IndexAsync();
        await PumpAsync();
        return Status();
    }

    private ValueTask IndexAsync() => GrainFactory.GetGrain<ISweepIndexGrain>(0).AddAsync(SweepId, SpecLoader.ContentHash(state.State.Spec!));

    public ValueTask<SweepStatus> GetStatusAsync()
    {
        RequireSpec();
        return ValueTask.FromResult(Status());
    }

    public async ValueTask<SweepStatus> PauseAsync()
    {
        RequireSpec();
        if (state.State.State != SweepState.Running) return Status();
        state.State.State = SweepState.Paused;
        await SaveAsync();
        await Task.WhenAll(Running().Select(m => Coordinator(m).PauseAsync().AsTask()));
        return Status();
    }

    public async ValueTask<SweepStatus> ResumeAsync()
    {
        RequireSpec();
        if (state.State.State != SweepState.Paused) return Status();
        state.State.State = SweepState.Running;
        await SaveAsync();
        await Task.WhenAll(state.State.Members.Where(m => m.Started && m.State == MemberState.Paused).Select(m => Coordinator(m).ResumeAsync().AsTask()));
        await PumpAsync();
        return Status();
    }

    public async ValueTask<SweepStatus> CancelAsync()
    {
        RequireSpec();
        if (state.State.State is SweepState.Completed or SweepState.Cancelled) return Status();
        state.State.State = SweepState.Cancelled;
        foreach (var m in state.State.Members.Where(m => !m.Started)) m.State = MemberState.Cancelled;
        await SaveAsync();
        var cancelled = await Task.WhenAll(state.State.Members.Where(m => m.Started && !m.State.IsFinished())
            .Select(m => Coordinator(m).CancelAsync().AsTask()));
        foreach (var status in cancelled) Record(status);
        await SaveAsync();
        Notify(force: true);
        return Status();
    }

    public ValueTask SubscribeAsync(ISweepObserver observer)
    {
        observers.Subscribe(observer, observer);
        return ValueTask.CompletedTask;
    }

    public ValueTask UnsubscribeAsync(ISweepObserver observer)
    {
        observers.Unsubscribe(observer);
        return ValueTask.CompletedTask;
    }

    public async Task MemberUpdatedAsync(MemberStatus status)
    {
        if (state.State.Spec is null) return;
        var member = Record(status);
        if (member is null) return;
        if (await StopIfFarBehindAsync(member, status)) return;
        if (status.State.IsFinished())
        {
            await SaveAsync();
            await PumpAsync();
        }
        Notify(force: status.State.IsFinished());
    }

    /// <summary>Median stopping: cancels a member far behind the others at the same evaluated step.</summary>
    private async Task<bool> StopIfFarBehindAsync(SweepMemberState member, MemberStatus status)
    {
        var rule = state.State.Spec!.Search!.MedianStopping;
        long evaluated = status.Evaluation?.Step ?? status.ImageEvaluation?.Step ?? -1;
        if (evaluated < 0 || Contracts.Members.Fitness.Of(status) is not double fitness || member.FitnessByStep.ContainsKey(evaluated)) return false;
        member.FitnessByStep[evaluated] = fitness;
        if (!rule.Enabled || status.State.IsFinished()) return false;
        var others = state.State.Members.Where(m => m != member && m.FitnessByStep.ContainsKey(evaluated)).Select(m => m.FitnessByStep[evaluated]).ToList();
        if (!MedianStopping.ShouldStop(fitness, others, evaluated, rule.GraceSteps, rule.Factor, rule.MinOthers)) return false;
        using (Telemetry.MemberLogScope.Begin(logger, LabelsOf(member), () => evaluated))
            SweepLog.StoppedEarly(logger, SweepId, member.MemberId, evaluated, fitness);
        member.StoppedEarly = true;
        Record(await Coordinator(member).CancelAsync());
        await SaveAsync();
        await PumpAsync();
        return true;
    }

    private SweepMemberState? Record(MemberStatus status)
    {
        var member = state.State.Members.FirstOrDefault(m => m.MemberId == status.MemberId);
        if (member is null) return null;
        // A late progress report must not undo a final state.
        if (member.State.IsFinished() && !status.State.IsFinished()) return member;
        member.State = status.State;
        member.Step = status.Step;
        member.Fitness = Contracts.Members.Fitness.Of(status) ?? member.Fitness;
        // A population's rounds wait for its unfinished members: it hears how each stands.
        if (IsPbt) _ = Population(member.Population).MemberProgressAsync(member.MemberId, status.Step, status.State.IsFinished());
        return member;
    }

    /// <summary>Starts pending members while there is room under the concurrency limit.</summary>
    private async Task PumpAsync()
    {
        if (pumping) return;
        pumping = true;
        try
        {
            var s = state.State;
            if (s.State == SweepState.Running) await PlanPopulationsAsync();
            while (s.State == SweepState.Running)
            {
                int running = Running().Count();
                var next = s.Members.FirstOrDefault(m => !m.Started);
                if (next is null || running >= s.Spec!.Search!.Concurrency) break;
                next.Started = true;
                next.State = MemberState.Running;
                s.MostRunning = Math.Max(s.MostRunning, running + 1);
                await SaveAsync();
                try
                {
                    bool pbt = s.Spec.Search.Strategy == "pbt";
                    if (pbt) metrics.PbtMemberStarted(LabelsOf(next));
                    Record(await Coordinator(next).StartInSweepAsync(next.Spec, SweepId, pbt ? s.Spec.Search.Pbt.Interval : 0));
                }
                catch (Exception e)
                {
                    using (Telemetry.MemberLogScope.Begin(logger, LabelsOf(next), () => 0))
                        SweepLog.MemberStartFailed(logger, e, SweepId, next.MemberId);
                    next.State = MemberState.Failed;
                }
            }
            if (s.State == SweepState.Running && s.Members.All(m => m.State.IsFinished()))
            {
                await SyncPopulationsAsync();
                s.State = SweepState.Completed;
                SweepLog.SweepCompleted(logger, SweepId, s.Members.Count);
            }
            await SaveAsync();
        }
        finally { pumping = false; }
        Notify(force: true);
    }

    private IEnumerable<SweepMemberState> Running() =>
        state.State.Members.Where(m => m.Started && m.State is MemberState.Running or MemberState.Pending or MemberState.Paused);

    private ICoordinatorGrain Coordinator(SweepMemberState m) => GrainFactory.GetGrain<ICoordinatorGrain>(m.MemberId);

    private void RequireSpec()
    {
        if (state.State.Spec is null) throw new UnknownSweepException($"no sweep '{SweepId}' was submitted to this cluster (status lists the sweeps)");
    }

    private Telemetry.MemberLabels LabelsOf(SweepMemberState m) =>
        new(SweepId, m.Population.ToString(System.Globalization.CultureInfo.InvariantCulture), m.MemberId);
}

internal static partial class SweepLog
{
    [LoggerMessage(101, LogLevel.Error, "Sweep {SweepId}: member {MemberId} could not start")]
    public static partial void MemberStartFailed(ILogger logger, Exception exception, string sweepId, string memberId);

    [LoggerMessage(103, LogLevel.Information, "Sweep {SweepId}: member {MemberId} at step {Step} exploits {DonorId} (its checkpoint at step {DonorStep}) and explores: {Hyperparameters}")]
    public static partial void Exploited(ILogger logger, string sweepId, string memberId, long step, string donorId, long donorStep, string hyperparameters);

    [LoggerMessage(104, LogLevel.Information, "Sweep {SweepId}: member {MemberId} stopped at step {Step}, fitness {Fitness:F4} far behind the median")]
    public static partial void StoppedEarly(ILogger logger, string sweepId, string memberId, long step, double fitness);

    [LoggerMessage(102, LogLevel.Information, "Sweep {SweepId} completed: {Members} members")]
    public static partial void SweepCompleted(ILogger logger, string sweepId, int members);
}
