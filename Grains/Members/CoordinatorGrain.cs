using System.Diagnostics;
using System.Runtime.InteropServices;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Data;
using GanCluster.Gan.Evaluation;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Utilities;
using GanCluster.Grains.Evaluation;
using GanCluster.Grains.Placement;

namespace GanCluster.Grains.Members;

/// <summary>
/// Runs one member's schedule as a background loop on this activation. Alternating: in each step G samples, D takes
/// its k steps and returns dLoss_G/dx, and G applies it; the coordinator hands D runs of such steps, which D drives
/// with G directly (<see cref="AlternatingSchedule"/>). Between runs the grain serves status, pause, resume and cancel;
/// every E steps it evaluates, every C steps it checkpoints.
/// </summary>
/// <remarks>
/// Placed on the silo with the fewest activations (of two picked at random), not by Orleans' default, which prefers
/// the caller's silo: the sweep that starts its members put every coordinator beside itself, so one silo's death
/// stalled every member's control at once.
/// </remarks>
[ActivationCountBasedPlacement]
public sealed partial class CoordinatorGrain(
    [PersistentState("member", GanStorage.Name)] IPersistentState<CoordinatorState> state,
    ICheckpointStore store,
    GanMetrics metrics,
    ImageEvaluator images,
    LocalMembers members,
    TensorBoardSink tensorBoard,
    Microsoft.Extensions.Options.IOptions<GanClusterOptions> cluster,
    ILogger<CoordinatorGrain> logger) : Grain, ICoordinatorGrain
{
    private static readonly TimeSpan PublishInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan KeepAlive = TimeSpan.FromMinutes(10);
    /// <summary>How many times a diverged PBT member may be replaced by a donor before it is marked diverged.</summary>
    private const int MaxDivergenceRescues = 3;
    private const int MaxStepRetries = 3;
    private int stepFailures;
    private int divergenceRescues;
    /// <summary>Set when another activation of this member is the one training; this one no longer writes anything.</summary>
    private bool superseded;

    private readonly ObserverManager<IMemberObserver> observers = new(TimeSpan.FromMinutes(5), logger);
    private Task? loop;
    private bool pauseRequested, cancelRequested, suspendRequested;
    private TaskCompletionSource? resumeSignal;
    private TaskCompletionSource? pausedSignal;

    // Live values between checkpoints; the persisted state holds them only up to the last checkpoint.
    private long step;
    private MemberState live = MemberState.Pending;
    private readonly List<CurvePoint> curve = [];
    private readonly List<MixtureMetrics> evaluations = [];
    private readonly List<ImageMetrics> imageEvaluations = [];
    private TensorMessage? samples;
    private double stepsPerSecond;
    private string? error;
    /// <summary>The mixture for mode metrics; null for image GANs, which the classifier scores.</summary>
    private MixtureDataset? data;

    private static MixtureDataset? MixtureOf(GanSpec spec) => SpecValidator.IsImageData(spec.Data.Kind) ? null : MixtureDataset.FromSpec(spec.Data);

    private string MemberId => this.GetPrimaryKeyString();
    private GanSpec Spec => state.State.Spec ?? throw new InvalidOperationException($"member {MemberId} has no spec (never started)");
    /// <summary>Sweep, population and member: the labels of this member's metrics and the fields of its log lines.</summary>
    private MemberLabels Labels => state.State.SweepId is { } sweep
        ? new MemberLabels(sweep, SweepPlanner.PopulationOf(sweep, MemberId), MemberId)
        : MemberLabels.Standalone(MemberId);
    /// <summary>This member's TensorBoard run (null when Gan:TensorBoard is not set).</summary>
    private MemberBoard? Board => tensorBoard.For(Labels);
    private IGeneratorWorkerGrain Generator => GrainFactory.GetGrain<IGeneratorWorkerGrain>(MemberId);
    private IDiscriminatorWorkerGrain Discriminator => GrainFactory.GetGrain<IDiscriminatorWorkerGrain>(MemberId);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var s = state.State;
        if (s.Spec is not null)
        {
            step = s.Step;
            live = s.State;
            curve.AddRange(s.Curve);
            evaluations.AddRange(s.Evaluations);
            imageEvaluations.AddRange(s.ImageEvaluations);
            samples = s.Samples;
            error = s.Error;
            data = MixtureOf(s.Spec);
            // A member that was training (or paused) when its silo stopped picks up from its last checkpoint.
            if (live == MemberState.Running) StartLoop();
        }
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await SuspendLoopAsync(cancellationToken);
        members.Remove(MemberId);
        metrics.Forget(MemberId);
    }

    public async ValueTask SuspendAsync()
    {
        await SuspendLoopAsync(CancellationToken.None);
        DeactivateOnIdle();
    }

    /// <summary>
    /// Shutdown or collection while training: checkpoint where we are and stop, keeping the persisted state
    /// (Running or Paused) so that the next activation carries on.
    /// </summary>
    private async Task SuspendLoopAsync(CancellationToken cancellationToken)
    {
        if (loop is not { IsCompleted: false }) return;
        suspendRequested = true;
        resumeSignal?.TrySetResult();
        pbtWake?.TrySetResult();
        await Task.WhenAny(loop, Task.Delay(Timeout.Infinite, cancellationToken));
    }

    /// <summary>A member submitted on its own: the spec enters the cluster here and is validated once, here.</summary>
    public ValueTask<MemberStatus> StartAsync(GanSpec spec)
    {
        SpecValidator.ThrowIfInvalid(spec);
        if (spec.Search is not null) throw new ArgumentException("a member trains one spec: submit a spec with a search section to a sweep");
        return StartCoreAsync(spec, null, 0);
    }

    /// <summary>A sweep's member: its spec was validated when the sweep was planned (SweepGrain.SubmitAsync).</summary>
    public ValueTask<MemberStatus> StartInSweepAsync(GanSpec spec, string sweepId, long pbtInterval) => StartCoreAsync(spec, sweepId, pbtInterval);

    private async ValueTask<MemberStatus> StartCoreAsync(GanSpec spec, string? sweepId, long pbtInterval)
    {
        ServiceProvider.GetRequiredService<ClusterDevices>().ThrowIfTooLarge(spec);
        if (state.State.Spec is not null)
        {
            if (SpecLoader.ToJson(state.State.Spec) != SpecLoader.ToJson(spec))
                throw new ConflictingSpecException($"member {MemberId} already exists with a different spec; choose another member id (--member ID)");
            if (live == MemberState.Running && loop is null) StartLoop();
            // Starting a cancelled or paused member again carries on from its last checkpoint.
            if (live is MemberState.Cancelled or MemberState.Paused && loop is not { IsCompleted: false })
            {
                await SetStateAsync(MemberState.Running);
                StartLoop();
            }
            return Status();
        }
        FileCheckpointStore.SafeName(MemberId);
        if (ServiceProvider.GetService<IDeviceAvailability>()?.Problem(spec.Device) is { } deviceProblem) throw new SpecException([deviceProblem]);
        state.State = new CoordinatorState
        {
            MemberId = MemberId,
            Spec = spec,
            State = MemberState.Running,
            CreatedAt = DateTimeOffset.UtcNow,
            SweepId = sweepId,
            PbtInterval = pbtInterval,
        };
        data = MixtureOf(spec);
        live = MemberState.Running;
        await state.WriteStateAsync();
        await store.WriteMemberRecordAsync(new MemberRecord(MemberId, MemberState.Running, DateTimeOffset.UtcNow));
        StartLoop();
        return Status();
    }

    public ValueTask<MemberStatus> GetStatusAsync() => ValueTask.FromResult(Status());

    public ValueTask<MemberReport> GetReportAsync() => ValueTask.FromResult(new MemberReport
    {
        Status = Status(),
        Spec = Spec,
        Curve = curve.ToArray(),
        Evaluations = evaluations.ToArray(),
        ImageEvaluations = imageEvaluations.ToArray(),
        Samples = samples,
        CheckpointPath = state.State.LastCheckpoint is { } c ? Path.GetDirectoryName(store.Locate(c.Generator)) : null,
    });

    public async ValueTask<MemberStatus> PauseAsync()
    {
        _ = Spec;
        if (live != MemberState.Running || loop is null || loop.IsCompleted) return Status();
        pauseRequested = true;
        pbtWake?.TrySetResult();
        pausedSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Task.WhenAny(pausedSignal.Task, loop);
        return Status();
    }

    public async ValueTask<MemberStatus> ResumeAsync()
    {
        _ = Spec;
        if (live != MemberState.Paused) return Status();
        pauseRequested = false;
        await SetStateAsync(MemberState.Running);
        // Paused and then deactivated, the loop is gone: start it again from the pause checkpoint.
        if (loop is { IsCompleted: false }) resumeSignal?.TrySetResult();
        else StartLoop();
        return Status();
    }

    public async ValueTask<MemberStatus> CancelAsync()
    {
        _ = Spec;
        if (live.IsFinished()) return Status();
        cancelRequested = true;
        resumeSignal?.TrySetResult();
        pbtWake?.TrySetResult();
        if (loop is { IsCompleted: false }) await loop;
        else await FinishAsync(MemberState.Cancelled);
        return Status();
    }

    public ValueTask SubscribeAsync(IMemberObserver observer)
    {
        observers.Subscribe(observer, observer);
        return ValueTask.CompletedTask;
    }

    public ValueTask UnsubscribeAsync(IMemberObserver observer)
    {
        observers.Unsubscribe(observer);
        return ValueTask.CompletedTask;
    }

    private MemberStatus Status() => new()
    {
        MemberId = MemberId,
        State = live,
        Step = step,
        TotalSteps = state.State.Spec?.Training.Steps ?? 0,
        StepsPerSecond = stepsPerSecond,
        Latest = curve.Count > 0 ? curve[^1] : null,
        Evaluation = evaluations.Count > 0 ? evaluations[^1] : null,
        ImageEvaluation = imageEvaluations.Count > 0 ? imageEvaluations[^1] : null,
        CheckpointStep = state.State.LastCheckpoint?.Step ?? 0,
        Error = error,
        ResumedFromStep = state.State.ResumedFromStep,
        RestartedFromScratch = state.State.RestartedFromScratch,
        SkippedCheckpoints = state.State.SkippedCheckpoints.ToArray(),
        Activity = live == MemberState.Running ? activity : null,
    };

    private void StartLoop()
    {
        pauseRequested = cancelRequested = suspendRequested = false;
        // How it resumed last time is history now: until this loop has prepared its workers, the status says nothing.
        state.State.ResumedFromStep = null;
        state.State.RestartedFromScratch = false;
        state.State.SkippedCheckpoints = [];
        members.Add(MemberId);
        loop = RunAsync();
    }

    private async Task FinishAsync(MemberState final)
    {
        await SetStateAsync(final);
        if (final.IsFinished())
        {
            // The workers' memory is freed; the checkpoints stay in the store. A worker that could not be placed holds nothing.
            try { await Task.WhenAll(Generator.ReleaseAsync().AsTask(), Discriminator.ReleaseAsync().AsTask()); }
            catch (DeviceCapacityException) { }
        }
    }

    private async Task SetStateAsync(MemberState next)
    {
        live = next;
        state.State.State = next;
        state.State.Error = error;
        await state.WriteStateAsync();
        await store.WriteMemberRecordAsync(new MemberRecord(MemberId, next, DateTimeOffset.UtcNow));
        using (MemberLogScope.Begin(logger, Labels, () => step))
            Log.MemberStateChanged(logger, MemberId, next, step);
        PublishNow();
    }

    private void PublishNow()
    {
        var status = Status();
        metrics.Publish(Labels, status);
        observers.Notify(o => o.OnProgressAsync(status));
        if (state.State.SweepId is { } sweep)
            _ = GrainFactory.GetGrain<Contracts.Sweeps.ISweepGrain>(sweep).MemberUpdatedAsync(status);
    }
}
