using GanCluster.Gan.Specs;
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

/// <summary>Alternating mode: the schedule steps the coordinator asks the discriminator worker to run with G.</summary>
/// <param name="Step">The step both workers stand at.</param>
/// <param name="Count">At most this many steps (the next evaluation, checkpoint or PBT report is a boundary).</param>
/// <param name="DiscriminatorSteps">k, D steps per G step.</param>
/// <param name="MaxLoss">A step whose D or G loss is non-finite or above this in magnitude ends the run, unapplied by G.</param>
/// <param name="Budget">Take no further step once this much time has passed (after at least <see cref="AlternatingRun.MinSteps"/>).</param>
[GenerateSerializer, Immutable, Alias("gan.AlternatingRun")]
public sealed record AlternatingRun(
    [property: Id(0)] long Step,
    [property: Id(1)] int Count,
    [property: Id(2)] int DiscriminatorSteps,
    [property: Id(3)] double MaxLoss,
    [property: Id(4)] TimeSpan Budget)
{
    /// <summary>Take at least this many steps whatever the budget (under load a step takes long in wall time, and a
    /// run of one step would pay the run's calls for each step).</summary>
    [Id(5)] public int MinSteps { get; init; } = 1;
}

/// <summary>
/// Alternating mode: what a run of steps yielded, one entry per step from <see cref="Step"/>. When the last entry's
/// losses diverged, G did not take that step (its <see cref="GradNormG"/> is NaN).
/// </summary>
[GenerateSerializer, Immutable, Alias("gan.AlternatingSteps")]
public sealed record AlternatingSteps(
    [property: Id(0)] long Step,
    [property: Id(1)] double[] DLoss,
    [property: Id(2)] double[] GLoss,
    [property: Id(3)] double[] MeanDReal,
    [property: Id(4)] double[] MeanDFake,
    [property: Id(5)] double[] GradNormD,
    [property: Id(6)] double[] GradNormG);

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
