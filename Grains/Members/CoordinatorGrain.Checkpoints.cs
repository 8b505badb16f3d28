using System.Diagnostics;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Orleans.Runtime;

namespace GanCluster.Grains.Members;

/// <summary>Checkpoints: preparing the workers from the newest usable checkpoint, writing one, and recovering after a failed step.</summary>
public sealed partial class CoordinatorGrain
{
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
            catch (Exception e) when (e is not (SpecException or CheckpointsUnusableException) && !suspendRequested && budget.Elapsed + delay < cluster.Value.StepRecoveryTimeout)
            {
                ClusterLog.RecoveryRetrying(logger, MemberId, attempt, e.GetType().Name, e.Message);
                DelayDeactivation(KeepAlive);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(4).Ticks));
            }
        }
    }

    /// <summary>
    /// Builds both workers, from the newest usable checkpoint if there is one. A listed checkpoint that cannot be used
    /// (missing, torn, corrupt, the wrong format) is passed over for the next older one and noted in the status. A
    /// member that had checkpoints and can use none does not quietly train again from step 0: it fails with
    /// <see cref="CheckpointsUnusableException"/>, unless its spec says <c>checkpoint.restartIfUnusable</c>.
    /// </summary>
    private async Task PrepareWorkersAsync()
    {
        var spec = Spec;
        var manifests = (await store.ListManifestsAsync(MemberId)).ToList();
        // The persisted state names the checkpoint it is consistent with; never resume from a newer, unrecorded one.
        long recorded = state.State.LastCheckpoint?.Step ?? -1;
        manifests.RemoveAll(m => m.Step > recorded);
        var skipped = new List<SkippedCheckpoint>();
        if (recorded >= 0 && !manifests.Any(m => m.Step == recorded))
        {
            const string reason = "its manifest is missing or unreadable";
            Log.CheckpointUnusable(logger, MemberId, recorded, reason);
            skipped.Add(new SkippedCheckpoint(recorded, reason));
        }
        foreach (var manifest in manifests)
        {
            try
            {
                await Task.WhenAll(
                    Generator.PrepareAsync(new WorkerSetup(MemberId, spec, manifest.Generator)).AsTask(),
                    Discriminator.PrepareAsync(new WorkerSetup(MemberId, spec, manifest.Discriminator)).AsTask());
                RewindTo(manifest);
                NoteResume(manifest.Step, restarted: false, skipped);
                return;
            }
            catch (Exception e) when (IsCheckpointProblem(e))
            {
                Log.CheckpointUnusable(logger, MemberId, manifest.Step, e.Message);
                skipped.Add(new SkippedCheckpoint(manifest.Step, e.Message));
            }
        }
        if (skipped.Count > 0 && !spec.Checkpoint.RestartIfUnusable)
        {
            NoteResume(null, restarted: false, skipped);
            throw new CheckpointsUnusableException(MemberId, skipped);
        }
        await Task.WhenAll(
            Generator.PrepareAsync(new WorkerSetup(MemberId, spec, null)).AsTask(),
            Discriminator.PrepareAsync(new WorkerSetup(MemberId, spec, null)).AsTask());
        RewindTo(null);
        if (skipped.Count == 0)
        {
            NoteResume(null, restarted: false, skipped);
            return;
        }
        // Told to restart: the unusable checkpoints go (left in place, they would outrank the new ones when pruning),
        // and step 0 becomes the checkpoint the persisted state is consistent with.
        Log.MemberRestartingFromScratch(logger, MemberId, SkippedCheckpoint.Describe(skipped));
        NoteResume(0, restarted: true, skipped);
        await store.DeleteAfterAsync(MemberId, 0);
        await CheckpointAsync();
    }

    private void NoteResume(long? from, bool restarted, List<SkippedCheckpoint> skipped)
    {
        state.State.ResumedFromStep = from;
        state.State.RestartedFromScratch = restarted;
        state.State.SkippedCheckpoints = [.. skipped];
    }

    /// <summary>
    /// Whether a failure to load a checkpoint says the checkpoint is unusable. Not so for a refused spec, a full device,
    /// or a worker (or its silo) that could not be reached in time: those fail or are retried as they are, and must
    /// not send a member back to an older checkpoint, or to step 0.
    /// </summary>
    private static bool IsCheckpointProblem(Exception e) =>
        e is not (SpecException or DeviceCapacityException or TimeoutException or OrleansException);

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
}
