using System.Diagnostics;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Telemetry;

namespace GanCluster.Grains.Members;

/// <summary>The member's training loop: runs of steps, evaluation and checkpoint points, divergence, pause, failures.</summary>
public sealed partial class CoordinatorGrain
{
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
            try
            {
                await PrepareWorkersAsync();
            }
            catch (Exception e) when ((e is TimeoutException or Orleans.Runtime.OrleansException) && !suspendRequested)
            {
                // A worker behind a route to a silo that just died (the first call fails, MemberRescuer) or not
                // answering yet: retried like any reload after a failed step, not taken for an unusable checkpoint.
                ClusterLog.RecoveryRetrying(logger, MemberId, 0, e.GetType().Name, e.Message);
                await RecoverAsync();
            }
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
                        if (step % spec.Training.LogEvery == 0 || step == total)
                        {
                            var point = interval.Flush(step);
                            TrainingCurve.Append(curve, point);
                            Board?.Curve(point);
                        }
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
        catch (CheckpointsUnusableException e)
        {
            Log.MemberCannotResume(logger, MemberId, e.Message);
            error = e.Message;
            await FinishAsync(MemberState.Failed);
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

    private async Task DivergedAsync(string reason)
    {
        Log.MemberDiverged(logger, MemberId, step, reason);
        error = $"diverged at step {step}: {reason}";
        await FinishAsync(MemberState.Diverged);
    }
}
