using GanCluster.Contracts.Tensors;

namespace GanCluster.Contracts.Workers;

/// <summary>Owns G, its optimizer, its noise RNG and its device. Keyed by member id.</summary>
[Alias("gan.IGeneratorWorker")]
public interface IGeneratorWorkerGrain : IGrainWithStringKey
{
    /// <summary>Builds G from the spec, or restores it from a checkpoint; returns the step it stands at.</summary>
    [Alias("Prepare"), ResponseTimeout("00:02:00")] ValueTask<long> PrepareAsync(WorkerSetup setup);
    /// <summary>Samples for one schedule step at <paramref name="step"/>; keeps the G-batch graph for <see cref="ApplyGradientAsync"/>.</summary>
    [Alias("Sample")] ValueTask<GeneratorBatch> SampleAsync(long step, int discriminatorSteps);
    /// <summary>Back-propagates dLoss_G/dx through the kept graph and steps G's optimizer.</summary>
    [Alias("ApplyGradient")] ValueTask<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient);
    /// <summary>
    /// <see cref="ApplyGradientAsync"/>, then <see cref="SampleAsync"/> for the next step, in one call (one grain call
    /// and one compute hand-off fewer per step). A batch sampled ahead and never applied does not count as drawn:
    /// sampling again or checkpointing rewinds G's noise stream to before it, so the trajectory never changes.
    /// </summary>
    [Alias("ApplyGradientAndSample")] ValueTask<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps);
    /// <summary>Evaluation samples from a separate RNG, so that evaluating never changes training.</summary>
    [Alias("SampleForEvaluation"), ResponseTimeout("00:02:00")] ValueTask<EvaluationBatch> SampleForEvaluationAsync(int count);
    /// <summary>Exchange mode: <paramref name="count"/> G steps against the shadow D, from <paramref name="step"/>.</summary>
    [Alias("TrainAgainstShadow"), ResponseTimeout("00:02:00")] ValueTask<ShadowSteps> TrainAgainstShadowAsync(long step, int count);
    /// <summary>Exchange mode: the discriminator's weights become the shadow D.</summary>
    [Alias("ImportShadow")] ValueTask ImportShadowAsync(long step, ShadowWeights weights);
    [Alias("Checkpoint"), ResponseTimeout("00:02:00")] ValueTask<CheckpointFile> CheckpointAsync(long step);
    /// <summary>The network's weights as <c>Module.save</c> bytes.</summary>
    [Alias("ExportWeights")] ValueTask<byte[]> ExportWeightsAsync();
    /// <summary>Drops the network and deactivates.</summary>
    [Alias("Release")] ValueTask ReleaseAsync();
}
