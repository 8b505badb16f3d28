using GanCluster.Contracts.Tensors;

namespace GanCluster.Contracts.Workers;

/// <summary>Owns D, its optimizer, the real data and their RNG, on a device. Keyed by member id.</summary>
[Alias("gan.IDiscriminatorWorker")]
public interface IDiscriminatorWorkerGrain : IGrainWithStringKey
{
    [Alias("Prepare"), ResponseTimeout("00:02:00")] ValueTask<long> PrepareAsync(WorkerSetup setup);
    /// <summary>
    /// Takes k D steps (real batches from its data, fake batches from G's batch), and returns dLoss_G/dx for G's kept
    /// batch under the updated D (or the current one, order g_first; or an unrolled copy).
    /// </summary>
    [Alias("Train")] ValueTask<DiscriminatorFeedback> TrainAsync(long step, GeneratorBatch batch);
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
