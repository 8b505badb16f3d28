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
public sealed class CoordinatorGrain(
    [PersistentState("member", GanStorage.Name)] IPersistentState<CoordinatorState> state,
    ICheckpointStore store,
    GanMetrics metrics,
    ImageEvaluator images,
    LocalMembers members,
    Microsoft.Extensions.Options.IOptions<GanClusterOptions> cluster,
    ILogger<CoordinatorGrain> logger) : Grain, ICoordinatorGrain
{
    private static readonly TimeSpan PublishInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan KeepAlive = TimeSpan.FromMinutes(10);
    /// <summary>How many times a diverged PBT member may be replaced by a donor before it is marked diverged.</summary>
    private const int MaxDivergenceRescues = 3;
    private static readonly TimeSpan PbtPollInterval = TimeSpan.FromMilliseconds(100);
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
                throw new InvalidOperationException($"member {MemberId} already exists with a different spec; choose another member id");
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
        CheckpointPath = state.State.LastCheckpoint is { } c ? Path.GetDirectoryName(c.Generator.Path) : null,
    });

    public async ValueTask<MemberStatus> PauseAsync()
    {
        _ = Spec;
        if (live != MemberState.Running || loop is null || loop.IsCompleted) return Status();
        pauseRequested = true;
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
    };

    private void StartLoop()
    {
        pauseRequested = cancelRequested = suspendRequested = false;
        members.Add(MemberId);
        loop = RunAsync();
    }

    private async Task RunAsync()
    {
        // The loop outlives the request that started it: without this it would carry that caller's request context
        // (a placement hint, say) in every worker call it makes, serialized into each message for as long as it runs.
        RequestContext.Clear();
        var spec = Spec;
        long total = spec.Training.Steps;
        using var logScope = MemberLogScope.Begin(logger, Labels, () => step);
        try
        {
            await PrepareWorkersAsync();
            Log.MemberStarting(logger, MemberId, step, total);
            var clock = Stopwatch.StartNew();
            var lastPublish = TimeSpan.Zero;
            var lastLog = TimeSpan.Zero;
            long stepAtPublish = step;
            var interval = new IntervalMeans();
            DelayDeactivation(KeepAlive);
            PublishNow();

            while (step < total && !cancelRequested && !suspendRequested)
            {
                if (pauseRequested)
                {
                    await PauseHereAsync();
                    clock.Restart(); lastPublish = lastLog = TimeSpan.Zero; stepAtPublish = step;
                    continue;
                }

                var started = clock.Elapsed;
                IReadOnlyList<StepStatistics> taken = [];
                bool exploited;
                try
                {
                    if (ExchangeSchedule.IsExchange(spec))
                    {
                        // Parameter exchange: G and D step in parallel against shadow copies, swapping weights every N steps.
                        taken = await ExchangeSchedule.RunRoundAsync(Generator, Discriminator, spec, step,
                            ExchangeSchedule.RoundLength(spec, step, total, state.State.PbtInterval));
                        metrics.WorkerCallTook("both", "exchange_round", (clock.Elapsed - started).TotalSeconds);
                    }
                    else
                    {
                        // Alternating: D runs the steps with G directly, up to the next evaluation, checkpoint or PBT report.
                        taken = await AlternatingSchedule.RunAsync(Discriminator, spec, step, total, state.State.PbtInterval);
                        metrics.WorkerCallTook("discriminator", "train_alternating", (clock.Elapsed - started).TotalSeconds);
                    }
                    string? diverged = taken.Count > 0 ? taken[^1].Divergence(spec.Training.MaxLoss) : null;
                    if (diverged is not null) taken = taken.Take(taken.Count - 1).ToArray();
                    var perStep = (clock.Elapsed - started).TotalSeconds / Math.Max(1, taken.Count);
                    foreach (var statistics in taken)
                    {
                        step++;
                        metrics.StepTook(perStep);
                        interval.Add(statistics);
                        if (step % spec.Training.LogEvery == 0 || step == total) TrainingCurve.Append(curve, interval.Flush(step));
                    }
                    if (diverged is not null)
                    {
                        // The steps before the diverged one count; the diverged one was not applied. Under PBT a
                        // diverged member is replaced by exploiting a top member of its population.
                        if (state.State.PbtInterval > 0 && state.State.LastCheckpoint is not null && ++divergenceRescues <= MaxDivergenceRescues
                            && await ExploitIfToldAsync(null))
                        {
                            spec = Spec;
                            continue;
                        }
                        await DivergedAsync(diverged);
                        return;
                    }
                    bool pbtReport = state.State.PbtInterval > 0 && step % state.State.PbtInterval == 0 && step < total;
                    if (step % spec.Evaluation.Every == 0 || step == total || pbtReport) await EvaluateAsync();
                    if (step % spec.Checkpoint.Every == 0 || step == total || pbtReport)
                    {
                        await CheckpointAsync();
                        stepFailures = 0;
                    }
                    exploited = pbtReport && await ExploitIfToldAsync(Fitness.Of(Status()));
                }
                catch (WorkerNotReadyException e)
                {
                    // A worker activation that lost its network (collected, or re-activated on another silo).
                    Log.WorkerReloading(logger, MemberId, step, e.Message, state.State.LastCheckpoint?.Step ?? 0);
                    long failedAt = step;
                    await RecoverAsync();
                    // Rewound: the steps being replayed must not count twice in the next curve point.
                    if (step != failedAt) interval = new IntervalMeans();
                    continue;
                }
                catch (Orleans.Storage.InconsistentStateException e)
                {
                    // Another activation of this member wrote its state since we read it (after a silo failure the
                    // cluster briefly had two): that one carries on; this one stops without touching the state.
                    ClusterLog.MemberSuperseded(logger, MemberId, step, e.Message);
                    superseded = true;
                    DeactivateOnIdle();
                    return;
                }
                catch (Exception e) when (e is not SpecException && ++stepFailures <= MaxStepRetries)
                {
                    // A worker call that failed (a lost silo, a native error): replay from the last checkpoint, which
                    // reproduces the same trajectory; a failure that keeps coming back fails the member.
                    Log.StepRetrying(logger, e, MemberId, step, stepFailures, MaxStepRetries, state.State.LastCheckpoint?.Step ?? 0);
                    long failedAt = step;
                    await RecoverAsync();
                    // Rewound: the steps being replayed must not count twice in the next curve point.
                    if (step != failedAt) interval = new IntervalMeans();
                    continue;
                }
                if (exploited)
                {
                    spec = Spec;
                    continue;
                }

                var now = clock.Elapsed;
                if (now - lastPublish >= PublishInterval)
                {
                    stepsPerSecond = (step - stepAtPublish) / (now - lastPublish).TotalSeconds;
                    metrics.StepsCompleted(Labels, step - stepAtPublish);
                    stepAtPublish = step;
                    lastPublish = now;
                    DelayDeactivation(KeepAlive);
                    PublishNow();
                    if (now - lastLog >= TimeSpan.FromSeconds(10) && curve.Count > 0)
                    {
                        var c = curve[^1];
                        Log.MemberProgress(logger, MemberId, step, c.DLoss, c.GLoss, c.DReal, c.DFake, stepsPerSecond);
                        lastLog = now;
                    }
                }
            }
            metrics.StepsCompleted(Labels, step - stepAtPublish);

            if (suspendRequested)
            {
                if (state.State.LastCheckpoint?.Step != step) await CheckpointAsync();
                return;
            }
            if (step >= total)
            {
                if (state.State.LastCheckpoint?.Step != step) await CheckpointAsync();
                await FinishAsync(MemberState.Completed);
            }
            else
            {
                await CheckpointAsync();
                await FinishAsync(MemberState.Cancelled);
            }
        }
        catch (Exception e) when (superseded || e is Orleans.Storage.InconsistentStateException)
        {
            superseded = true;
            ClusterLog.MemberSuperseded(logger, MemberId, step, e.Message);
            DeactivateOnIdle();
        }
        catch (Exception e) when (suspendRequested)
        {
            // The workers may be going away with the silo; the last checkpoint stands and the member resumes from it.
            Log.SuspendCheckpointFailed(logger, e, MemberId, step, state.State.LastCheckpoint?.Step ?? 0);
        }
        catch (Exception e)
        {
            Log.MemberFailed(logger, e, MemberId, step);
            error = $"{e.GetType().Name}: {e.Message}";
            await FinishAsync(MemberState.Failed);
        }
        finally
        {
            members.Remove(MemberId);
            pausedSignal?.TrySetResult();
            if (!superseded) PublishNow();
        }
    }

    /// <summary>
    /// PBT: reports fitness and the checkpoint just written to the sweep; if told to exploit, loads the donor's
    /// checkpoint (weights, optimizer state, RNG state, step) into both workers under the explored hyperparameters,
    /// drops its own newer checkpoints, and checkpoints the result as its own.
    /// </summary>
    private async Task<bool> ExploitIfToldAsync(double? fitness)
    {
        var own = state.State.LastCheckpoint!;
        var sweep = GrainFactory.GetGrain<Contracts.Sweeps.ISweepGrain>(state.State.SweepId!);
        Contracts.Sweeps.PbtVerdict verdict;
        var waitingSince = Stopwatch.StartNew();
        while ((verdict = await sweep.PbtReportAsync(MemberId, step, fitness, own.Generator, own.Discriminator)).Action == Contracts.Sweeps.PbtAction.Wait)
        {
            // The rest of the population has not reached this step yet: stay responsive to pause, cancel and shutdown.
            if (cancelRequested || suspendRequested) return false;
            if (pauseRequested) { await PauseHereAsync(); continue; }
            if (waitingSince.Elapsed > PublishInterval) { DelayDeactivation(KeepAlive); PublishNow(); waitingSince.Restart(); }
            await Task.Delay(PbtPollInterval);
        }
        var decision = verdict.Exploit;
        if (decision is null) return false;
        try
        {
            await Task.WhenAll(
                Generator.PrepareAsync(new WorkerSetup(MemberId, decision.Spec, decision.Generator)).AsTask(),
                Discriminator.PrepareAsync(new WorkerSetup(MemberId, decision.Spec, decision.Discriminator)).AsTask());
        }
        catch (Exception e) when (e is not SpecException)
        {
            // The donor's checkpoint went away (pruned) or is unreadable: carry on with our own.
            Log.ExploitFailed(logger, e, MemberId, decision.DonorId, decision.DonorStep);
            await PrepareWorkersAsync();
            return false;
        }
        state.State.Spec = decision.Spec;
        step = decision.DonorStep;
        curve.RemoveAll(c => c.Step > step);
        evaluations.RemoveAll(e => e.Step > step);
        imageEvaluations.RemoveAll(e => e.Step > step);
        await store.DeleteAfterAsync(MemberId, step);
        metrics.Exchanged("weights", decision.Generator.Bytes + decision.Discriminator.Bytes);
        Log.Exploited(logger, MemberId, decision.DonorId, decision.DonorStep, decision.NewHyperparameters);
        await CheckpointAsync();
        return true;
    }

    private async Task PauseHereAsync()
    {
        if (state.State.LastCheckpoint?.Step != step) await CheckpointAsync();
        resumeSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await SetStateAsync(MemberState.Paused);
        pausedSignal?.TrySetResult();
        pausedSignal = null;
        await resumeSignal.Task;
        resumeSignal = null;
    }

    /// <summary>
    /// Reloads both workers from the last checkpoint after a failed step. On a cluster the failure is often a silo
    /// that died: until membership declares it dead, calls to its grains fail or time out, so reloading is retried
    /// with a growing delay for up to Gan:Cluster:StepRecoveryTimeout; then the workers re-activate on live silos.
    /// </summary>
    private async Task RecoverAsync()
    {
        var budget = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(250);
        for (int attempt = 1; ; attempt++)
        {
            await Task.Delay(delay);
            try
            {
                await PrepareWorkersAsync();
                ClusterLog.MemberRecovered(logger, MemberId, step, attempt, budget.Elapsed.TotalSeconds);
                return;
            }
            catch (Exception e) when (e is not SpecException && !suspendRequested && budget.Elapsed + delay < cluster.Value.StepRecoveryTimeout)
            {
                ClusterLog.RecoveryRetrying(logger, MemberId, attempt, e.GetType().Name, e.Message);
                DelayDeactivation(KeepAlive);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(4).Ticks));
            }
        }
    }

    /// <summary>Builds both workers, from the newest usable checkpoint if there is one.</summary>
    private async Task PrepareWorkersAsync()
    {
        var spec = Spec;
        var manifests = (await store.ListManifestsAsync(MemberId)).ToList();
        // The persisted state names the checkpoint it is consistent with; never resume from a newer, unrecorded one.
        long recorded = state.State.LastCheckpoint?.Step ?? -1;
        manifests.RemoveAll(m => m.Step > recorded);
        if (recorded >= 0 && !manifests.Any(m => m.Step == recorded)) Log.CheckpointUnusable(logger, MemberId, recorded, "its manifest is missing or unreadable");
        foreach (var manifest in manifests)
        {
            try
            {
                await Task.WhenAll(
                    Generator.PrepareAsync(new WorkerSetup(MemberId, spec, manifest.Generator)).AsTask(),
                    Discriminator.PrepareAsync(new WorkerSetup(MemberId, spec, manifest.Discriminator)).AsTask());
                RewindTo(manifest);
                return;
            }
            catch (Exception e) when (e is not SpecException)
            {
                Log.CheckpointUnusable(logger, MemberId, manifest.Step, e.Message);
            }
        }
        await Task.WhenAll(
            Generator.PrepareAsync(new WorkerSetup(MemberId, spec, null)).AsTask(),
            Discriminator.PrepareAsync(new WorkerSetup(MemberId, spec, null)).AsTask());
        RewindTo(null);
    }

    private void RewindTo(CheckpointManifest? manifest)
    {
        step = manifest?.Step ?? 0;
        curve.RemoveAll(c => c.Step > step);
        // The curve may have been thinned since the checkpoint: take it as the checkpoint recorded it.
        if (manifest is not null && manifest.Step == state.State.Step && state.State.Curve.Count > 0) { curve.Clear(); curve.AddRange(state.State.Curve); }
        evaluations.RemoveAll(e => e.Step > step);
        imageEvaluations.RemoveAll(e => e.Step > step);
        // The persisted samples belong to the recorded checkpoint; any later ones are gone with the steps.
        samples = manifest is not null && manifest.Step == state.State.Step ? state.State.Samples : evaluations.Count + imageEvaluations.Count > 0 ? samples : null;
        state.State.LastCheckpoint = manifest;
    }

    private async Task EvaluateAsync()
    {
        var spec = Spec;
        var generated = await Generator.SampleForEvaluationAsync(spec.Evaluation.Samples);
        var scores = await Discriminator.ScoreAsync(generated);
        var labels = generated.Labels is null ? null : MemoryMarshal.Cast<byte, long>(generated.Labels.Data).ToArray();
        if (data is not null)
        {
            var score = MixtureEvaluation.Evaluate(data, generated.Samples.ToRows(), spec.Evaluation.MinSamplesPerMode, labels);
            var result = new MixtureMetrics(step, score.ModesCovered, score.ModesTotal, score.HighQualityFraction, score.ReverseKl, scores.MeanDReal, scores.MeanDFake)
            {
                LabelAccuracy = score.LabelAccuracy,
            };
            evaluations.Add(result);
            samples = generated.Samples;
            Log.MemberEvaluated(logger, MemberId, step, result.ModesCovered, result.ModesTotal, result.HighQualityFraction, result.ReverseKl);
        }
        else
        {
            var result = await images.EvaluateAsync(generated.Samples, labels, step, scores.MeanDReal, scores.MeanDFake);
            imageEvaluations.Add(result);
            // A 10×10 grid's worth is kept for the report (conditional: ten of each class, as evaluation cycles them).
            samples = FirstRows(generated.Samples, 100);
            Log.MemberImagesEvaluated(logger, MemberId, step, result.ClassesCovered, result.ClassCount, result.FrechetDistance, result.ClassKl);
        }
    }

    private static TensorMessage FirstRows(TensorMessage t, int rows)
    {
        if (t.Shape[0] <= rows) return t;
        long rowBytes = t.Data.LongLength / t.Shape[0];
        var shape = (int[])t.Shape.Clone();
        shape[0] = rows;
        return new TensorMessage(shape, t.ElementType, t.Data.AsSpan(0, (int)(rowBytes * rows)).ToArray());
    }

    private async Task CheckpointAsync()
    {
        var clock = Stopwatch.StartNew();
        var g = Generator.CheckpointAsync(step).AsTask();
        var d = Discriminator.CheckpointAsync(step).AsTask();
        await Task.WhenAll(g, d);
        var manifest = new CheckpointManifest(MemberId, step, await g, await d, DateTimeOffset.UtcNow);
        await store.WriteManifestAsync(manifest);
        var s = state.State;
        s.LastCheckpoint = manifest;
        s.Step = step;
        s.Curve = [.. curve];
        s.Evaluations = [.. evaluations];
        s.ImageEvaluations = [.. imageEvaluations];
        s.Samples = samples;
        s.Error = error;
        await state.WriteStateAsync();
        await store.PruneAsync(MemberId, Spec.Checkpoint.Keep);
        long bytes = manifest.Generator.Bytes + manifest.Discriminator.Bytes;
        metrics.CheckpointTook(clock.Elapsed.TotalSeconds, bytes);
        Log.MemberCheckpointed(logger, MemberId, step, bytes, clock.Elapsed.TotalSeconds);
    }

    private async Task DivergedAsync(string reason)
    {
        Log.MemberDiverged(logger, MemberId, step, reason);
        error = $"diverged at step {step}: {reason}";
        await FinishAsync(MemberState.Diverged);
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

    /// <summary>Means of D's statistics over the steps since the last curve point.</summary>
    private sealed class IntervalMeans
    {
        private double dLoss, gLoss, dReal, dFake, gradG, gradD;
        private int count;

        public void Add(StepStatistics f)
        {
            dLoss += f.DLoss; gLoss += f.GLoss; dReal += f.MeanDReal; dFake += f.MeanDFake;
            gradG += f.GradNormG; gradD += f.GradNormD; count++;
        }

        public CurvePoint Flush(long step)
        {
            int n = Math.Max(count, 1);
            var point = new CurvePoint(step, dLoss / n, gLoss / n, dReal / n, dFake / n) { GradNormG = gradG / n, GradNormD = gradD / n };
            dLoss = gLoss = dReal = dFake = gradG = gradD = 0; count = 0;
            return point;
        }
    }
}
