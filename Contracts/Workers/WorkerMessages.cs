using GanCluster.Contracts.Specs;
using GanCluster.Contracts.Tensors;

namespace GanCluster.Contracts.Workers;

/// <summary>What a worker needs to build its network: the member's spec, and the checkpoint to resume from, if any.</summary>
[GenerateSerializer, Immutable, Alias("gan.WorkerSetup")]
public sealed record WorkerSetup(
    [property: Id(0)] string MemberId,
    [property: Id(1)] GanSpec Spec,
    [property: Id(2)] CheckpointFile? ResumeFrom);

/// <summary>One worker's part of a checkpoint, as written to the checkpoint store.</summary>
[GenerateSerializer, Immutable, Alias("gan.CheckpointFile")]
public sealed record CheckpointFile(
    [property: Id(0)] string Path,
    [property: Id(1)] long Step,
    [property: Id(2)] long Bytes,
    [property: Id(3)] string Sha256);

/// <summary>G's samples for one schedule step: k detached batches for D's steps, and one batch whose graph G keeps.</summary>
[GenerateSerializer, Immutable, Alias("gan.GeneratorBatch")]
public sealed record GeneratorBatch(
    [property: Id(0)] TensorMessage ForDiscriminator,
    [property: Id(1)] TensorMessage ForGenerator)
{
    /// <summary>Conditional GANs: the classes G generated <see cref="ForDiscriminator"/> for (int64).</summary>
    [Id(2)] public TensorMessage? DiscriminatorLabels { get; init; }
    /// <summary>Conditional GANs: the classes of <see cref="ForGenerator"/> (int64).</summary>
    [Id(3)] public TensorMessage? GeneratorLabels { get; init; }
}

/// <summary>Samples for evaluation, and their classes for a conditional GAN (sample i has class i mod K).</summary>
[GenerateSerializer, Immutable, Alias("gan.EvaluationBatch")]
public sealed record EvaluationBatch(
    [property: Id(0)] TensorMessage Samples,
    [property: Id(1)] TensorMessage? Labels);

/// <summary>D's answer to one schedule step: its statistics, and dLoss_G/dx for G's batch.</summary>
[GenerateSerializer, Immutable, Alias("gan.DiscriminatorFeedback")]
public sealed record DiscriminatorFeedback(
    [property: Id(0)] TensorMessage GeneratorGradient,
    [property: Id(1)] double DLoss,
    [property: Id(2)] double GLoss,
    [property: Id(3)] double MeanDReal,
    [property: Id(4)] double MeanDFake,
    [property: Id(5)] double GradNorm);

[GenerateSerializer, Immutable, Alias("gan.GeneratorStepResult")]
public sealed record GeneratorStepResult(
    [property: Id(0)] long Step,
    [property: Id(1)] double GradNorm);

/// <summary>G's step result and its samples for the next schedule step.</summary>
[GenerateSerializer, Immutable, Alias("gan.GeneratorStepAndBatch")]
public sealed record GeneratorStepAndBatch(
    [property: Id(0)] GeneratorStepResult Step,
    [property: Id(1)] GeneratorBatch Next);

[GenerateSerializer, Immutable, Alias("gan.DiscriminatorScores")]
public sealed record DiscriminatorScores(
    [property: Id(0)] double MeanDReal,
    [property: Id(1)] double MeanDFake);

/// <summary>
/// Thrown by a worker asked to step when it holds no network (a fresh activation after its silo restarted or it was
/// collected): the coordinator reloads both workers from the last checkpoint.
/// </summary>
[GenerateSerializer, Alias("gan.WorkerNotReadyException")]
public sealed class WorkerNotReadyException : Exception
{
    public WorkerNotReadyException() { }
    public WorkerNotReadyException(string message) : base(message) { }
    public WorkerNotReadyException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Exchange mode: what one worker's steps against its shadow copy of the other network yielded, one entry per step.
/// The generator fills <see cref="Loss"/> (G's loss under the shadow D) and <see cref="GradNorm"/>; the discriminator
/// also fills the mean D(x) on real and on fake samples (its fakes come from its shadow G).
/// </summary>
[GenerateSerializer, Immutable, Alias("gan.ShadowSteps")]
public sealed record ShadowSteps(
    [property: Id(0)] long Step,
    [property: Id(1)] double[] Loss,
    [property: Id(2)] double[] GradNorm,
    [property: Id(3)] double[]? MeanDReal,
    [property: Id(4)] double[]? MeanDFake);

/// <summary>Exchange mode: the other network's weights (<c>Module.save</c> bytes) for a worker's shadow copy.</summary>
[GenerateSerializer, Immutable, Alias("gan.ShadowWeights")]
public sealed record ShadowWeights([property: Id(0)] byte[] Bytes);
