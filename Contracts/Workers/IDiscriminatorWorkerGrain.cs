using GanCluster.Contracts.Tensors;

namespace GanCluster.Contracts.Workers;

/// <summary>Owns D, its optimizer, the real data and their RNG, on a device. Keyed by member id.</summary>
[Alias("gan.IDiscriminatorWorker")]
public interface IDiscriminatorWorkerGrain : IGrainWithStringKey
{
    [Alias("Prepare"), ResponseTimeout("00:02:00")] ValueTask<long> PrepareAsync(WorkerSetup setup);
    /// <summary>
    /// Alternating mode: runs up to <see cref="AlternatingRun.Count"/> schedule steps from <see cref="AlternatingRun.Step"/>
    /// with the member's generator worker, which it calls directly (one grain call per step). Each step: G samples; D takes its k steps (real
    /// batches from its data, fake batches from G's) and computes dLoss_G/dx for G's kept batch under the updated D (or
    /// the current one, order g_first; or an unrolled copy); G applies it and samples the next step's batch in the same
    /// call. One message hop per step instead of two through the coordinator; none of it blocks a thread. Stops early once
    /// <see cref="AlternatingRun.Budget"/> has passed (so the coordinator serves pause and cancel promptly) and at a
    /// diverged step, which G does not apply. Where the run stops never changes the trajectory.
    /// </summary>
    [Alias("TrainAlternating"), ResponseTimeout("00:05:00")] ValueTask<AlternatingSteps> TrainAlternatingAsync(AlternatingRun run);
    /// <summary>Mean D(x) on the given fake samples and on as many fresh real samples (from the evaluation RNG).</summary>
    [Alias("Score"), ResponseTimeout("00:02:00")] ValueTask<DiscriminatorScores> ScoreAsync(EvaluationBatch fake);
    /// <summary>Exchange mode: <paramref name="count"/> schedule steps (k D steps each) on fakes of the shadow G.</summary>
    [Alias("TrainAgainstShadow"), ResponseTimeout("00:02:00")] ValueTask<ShadowSteps> TrainAgainstShadowAsync(long step, int count);
    /// <summary>Exchange mode: the generator's weights become the shadow G.</summary>
    [Alias("ImportShadow")] ValueTask ImportShadowAsync(long step, ShadowWeights weights);
    [Alias("Checkpoint"), ResponseTimeout("00:02:00")] ValueTask<CheckpointFile> CheckpointAsync(long step);
    [Alias("ExportWeights")] ValueTask<byte[]> ExportWeightsAsync();
    [Alias("Release")] ValueTask ReleaseAsync();
}
