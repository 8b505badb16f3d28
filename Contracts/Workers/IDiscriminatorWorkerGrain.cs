using GanCluster.Contracts.Tensors;

namespace GanCluster.Contracts.Workers;

/// <summary>Owns D, its optimizer, the real data and their RNG, on a device. Keyed by member id.</summary>
[Alias("gan.IDiscriminatorWorker")]
public interface IDiscriminatorWorkerGrain : IGrainWithStringKey
{
    [Alias("Prepare")] ValueTask<long> PrepareAsync(WorkerSetup setup);
    /// <summary>
    /// Takes k D steps (real batches from its data, fake batches from <paramref name="fakeForDiscriminator"/>), then
    /// returns dLoss_G/dx for <paramref name="fakeForGenerator"/> under the updated D.
    /// </summary>
    [Alias("Train")] ValueTask<DiscriminatorFeedback> TrainAsync(long step, TensorMessage fakeForDiscriminator, TensorMessage fakeForGenerator);
    /// <summary>Mean D(x) on the given fake samples and on as many fresh real samples (from the evaluation RNG).</summary>
    [Alias("Score")] ValueTask<DiscriminatorScores> ScoreAsync(TensorMessage fake);
    [Alias("Checkpoint")] ValueTask<CheckpointFile> CheckpointAsync(long step);
    [Alias("ExportWeights")] ValueTask<byte[]> ExportWeightsAsync();
    [Alias("Release")] ValueTask ReleaseAsync();
}
