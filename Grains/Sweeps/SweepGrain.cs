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
    public List<LineageEntry> Lineage { get; set; } = [];
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
    /// <summary>PBT: the fitness and checkpoint the member reported at each interval (its own, never a donor's).</summary>
    public List<PbtReport> Reports { get; set; } = [];
    /// <summary>PBT: the last step the member was answered at, and the exploit it was told (null: carry on).</summary>
    public long DecidedStep { get; set; } = -1;
    public PbtDecision? Decision { get; set; }
    /// <summary>Fitness at each evaluated step, for median stopping.</summary>
    public Dictionary<long, double> FitnessByStep { get; set; } = [];
    public bool StoppedEarly { get; set; }
}

/// <summary>What a PBT member reported at one interval.</summary>
public sealed record PbtReport(long Step, double? Fitness, CheckpointFile Generator, CheckpointFile Discriminator);

/// <summary>
/// Expands a sweep spec into members and starts them, never more than the concurrency limit at once; members report
/// back here (one-way), which frees a slot when one finishes. The state is persisted, so a sweep carries on without
/// its client and across silo restarts (its members resume and report again).
/// </summary>
/// <remarks>Spread like the coordinators (<see cref="Members.CoordinatorGrain"/>): several sweeps do not pile up on the gateway's silo.</remarks>
[ActivationCountBasedPlacement]
public sealed class SweepGrain(
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
        if (finished || lineageDirty)
        {
            lineageDirty = false;
            await SaveAsync();
        }
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

    private bool lineageDirty;
    /// <summary>PBT: members told to wait for their round, by population; told when it moves (in memory: a member that
    /// hears nothing asks again after a while).</summary>
    private readonly Dictionary<int, HashSet<string>> waitingForRound = [];

    public ValueTask<PbtVerdict> PbtReportAsync(string memberId, long step, double? fitness, CheckpointFile generator, CheckpointFile discriminator)
    {
        var s = state.State;
        var search = s.Spec?.Search;
        var member = s.Members.FirstOrDefault(m => m.MemberId == memberId);
        if (search is null || search.Strategy != "pbt" || member is null) return ValueTask.FromResult(PbtVerdict.Continue);
        var population = s.Members.Where(m => m.Population == member.Population).ToList();

        if (fitness is null)
        {
            // A diverged member: replaced from the latest round before its step that ranked at least two members.
            long round = population.SelectMany(m => m.Reports).Where(r => r.Step <= step && r.Fitness is not null)
                .GroupBy(r => r.Step).Where(g => g.Count() >= 2).Select(g => g.Key).DefaultIfEmpty(-1).Max();
            return ValueTask.FromResult(round < 0 ? PbtVerdict.Continue : Decide(member, population, round, step, search, diverged: true));
        }

        // An answer already given for this step is given again (a repeated call must not explore twice).
        if (member.DecidedStep == step) return ValueTask.FromResult(member.Decision is null ? PbtVerdict.Continue : new PbtVerdict(PbtAction.Exploit, member.Decision));
        member.Reports.RemoveAll(r => r.Step == step);
        member.Reports.Add(new PbtReport(step, fitness, generator, discriminator));
        lineageDirty = true;
        // Synchronous rounds: wait for every running member of the population that has not reached this step yet.
        bool waiting = population.Any(m => m != member && m.Started && !m.State.IsFinished()
            && m.Reports.Select(r => r.Step).DefaultIfEmpty(-1).Max() < step && m.Step <= step);
        if (waiting)
        {
            (waitingForRound.TryGetValue(member.Population, out var set) ? set : waitingForRound[member.Population] = []).Add(memberId);
            return ValueTask.FromResult(PbtVerdict.Wait);
        }
        waitingForRound.GetValueOrDefault(member.Population)?.Remove(memberId);
        var verdict = Decide(member, population, step, step, search, diverged: false);
        member.DecidedStep = step;
        member.Decision = verdict.Exploit;
        RoundMoved(member.Population);
        return ValueTask.FromResult(verdict);
    }

    /// <summary>Tells the members of a population that wait for their round to ask again: it may be complete now.</summary>
    private void RoundMoved(int population)
    {
        if (!waitingForRound.Remove(population, out var waiting)) return;
        foreach (var id in waiting) _ = GrainFactory.GetGrain<ICoordinatorGrain>(id).PbtRoundMovedAsync();
    }

    /// <summary>
    /// Ranks the population by the fitness its members reported at <paramref name="round"/>; a member in the bottom
    /// quantile (or a diverged one) exploits a random member of the top quantile at that round and explores from its
    /// hyperparameters. The choice is seeded by the sweep's seed, the member and the step.
    /// </summary>
    private PbtVerdict Decide(SweepMemberState member, List<SweepMemberState> population, long round, long step, SearchSpec search, bool diverged)
    {
        var ranked = population.Select(m => (Member: m, Report: m.Reports.FirstOrDefault(r => r.Step == round)))
            .Where(x => x.Report is not null)
            .OrderByDescending(x => x.Report!.Fitness ?? double.NegativeInfinity).ThenBy(x => x.Member.MemberId, StringComparer.Ordinal)
            .ToList();
        int n = ranked.Count, q = Math.Max(1, (int)Math.Floor(n * search.Pbt.Quantile));
        int rank = ranked.FindIndex(x => x.Member == member);
        if (!diverged && (n < 2 || rank < n - q)) return PbtVerdict.Continue;
        var donors = ranked.Take(q).Where(x => x.Member != member && x.Report!.Fitness is not null).ToList();
        if (donors.Count == 0) return PbtVerdict.Continue;
        // Stable across processes (HashCode is not), and the same for the same member position in any sweep of this spec.
        int index = state.State.Members.IndexOf(member);
        var rng = new Random((int)(Gan.Training.Seeds.For(search.Seed, $"pbt/{index}/{step}") & int.MaxValue));
        var (donor, report) = donors[rng.Next(donors.Count)];
        var explored = SweepPlanner.Space(search, []).Explore(donor.Hyperparameters, rng, search.Pbt.PerturbFactors, search.Pbt.ResampleProbability);
        var s = state.State;
        GanSpec spec;
        try { spec = SpecLoader.Parse(SpecLoader.ToJson(s.Spec! with { Search = null, Seed = member.Spec.Seed }), SearchSpace.Overrides(explored), member.MemberId); }
        catch (SpecException)
        {
            // An explored point the spec refuses: take the donor's own hyperparameters unchanged.
            explored = donor.Hyperparameters;
            spec = donor.Spec with { Seed = member.Spec.Seed };
        }
        var entry = new LineageEntry(member.MemberId, step, donor.MemberId, round, SearchSpace.Describe(member.Hyperparameters),
            SearchSpace.Describe(explored), DateTimeOffset.UtcNow);
        s.Lineage.Add(entry);
        member.Hyperparameters = new Dictionary<string, string>(explored);
        member.Spec = spec;
        // Persisted by the sweep's next turn: this call interleaves, and must not wait on the sweep's own writes.
        lineageDirty = true;
        var labels = new Telemetry.MemberLabels(SweepId, member.Population.ToString(System.Globalization.CultureInfo.InvariantCulture), member.MemberId);
        metrics.Exploited(labels, explored: !ReferenceEquals(explored, donor.Hyperparameters));
        using (Telemetry.MemberLogScope.Begin(logger, labels, () => step))
            SweepLog.Exploited(logger, SweepId, member.MemberId, step, donor.MemberId, round, entry.NewHyperparameters);
        Notify(force: true);
        return new PbtVerdict(PbtAction.Exploit, new PbtDecision(donor.MemberId, round, report!.Generator, report.Discriminator, spec,
            entry.OldHyperparameters, entry.NewHyperparameters));
    }

    public async Task MemberUpdatedAsync(MemberStatus status)
    {
        if (state.State.Spec is null) return;
        var member = Record(status);
        if (member is null) return;
        if (lineageDirty)
        {
            lineageDirty = false;
            await SaveAsync();
        }
        if (await StopIfFarBehindAsync(member, status)) return;
        if (status.State.IsFinished())
        {
            // A finished member no longer holds its population's round back.
            RoundMoved(member.Population);
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
            Lineage = s.Lineage.ToArray(),
            Members = s.Members.Select(m => new SweepMember(m.MemberId, m.Population, m.State, m.Step, m.Spec.Training.Steps, m.Fitness,
                SearchSpace.Describe(m.Hyperparameters), m.Started)).ToArray(),
        };
    }
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
