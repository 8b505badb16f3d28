using GanCluster.Gan.Specs;

namespace GanCluster.Contracts.Members;

[GenerateSerializer, Alias("gan.MemberState")]
public enum MemberState
{
    Pending = 0,
    Running = 1,
    Paused = 2,
    Completed = 3,
    Cancelled = 4,
    Diverged = 5,
    Failed = 6,
}

public static class MemberStates
{
    public static bool IsFinished(this MemberState state) =>
        state is MemberState.Completed or MemberState.Cancelled or MemberState.Diverged or MemberState.Failed;

    /// <summary>
    /// One line on how the member last resumed: from which checkpoint, which ones it skipped and why, or that it
    /// restarted from step 0 or could not resume; null when it has not resumed from a checkpoint and skipped none.
    /// </summary>
    public static string? ResumeNote(this MemberStatus s)
    {
        string skipped = SkippedCheckpoint.Describe(s.SkippedCheckpoints);
        if (s.RestartedFromScratch)
            return $"{s.MemberId} restarted from step 0: no checkpoint was usable ({skipped}); its spec allows this (checkpoint.restartIfUnusable)";
        if (s.ResumedFromStep is long from)
            return s.SkippedCheckpoints.Count == 0
                ? $"{s.MemberId} resumed from its checkpoint at step {from}"
                : $"{s.MemberId} resumed from its checkpoint at step {from}, skipping {s.SkippedCheckpoints.Count} unusable ({skipped})";
        return s.SkippedCheckpoints.Count > 0 ? $"{s.MemberId} could not resume: no checkpoint was usable ({skipped})" : null;
    }
}

/// <summary>A checkpoint a member passed over when it resumed, and why (missing, torn, corrupt, the wrong format).</summary>
[GenerateSerializer, Immutable, Alias("gan.SkippedCheckpoint")]
public sealed record SkippedCheckpoint(
    [property: Id(0)] long Step,
    [property: Id(1)] string Reason)
{
    /// <summary>"step 300: reason; step 200: reason".</summary>
    public static string Describe(IEnumerable<SkippedCheckpoint> skipped) =>
        string.Join("; ", skipped.Select(k => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"step {k.Step}: {k.Reason}")));
}

/// <summary>Evaluation of a mixture GAN as DESIGN.md defines it.</summary>
[GenerateSerializer, Immutable, Alias("gan.MixtureMetrics")]
public sealed record MixtureMetrics(
    [property: Id(0)] long Step,
    [property: Id(1)] int ModesCovered,
    [property: Id(2)] int ModesTotal,
    [property: Id(3)] double HighQualityFraction,
    [property: Id(4)] double ReverseKl,
    [property: Id(5)] double MeanDReal,
    [property: Id(6)] double MeanDFake)
{
    /// <summary>Conditional GANs: fraction of samples whose nearest mode is the class they were generated for.</summary>
    [Id(7)] public double? LabelAccuracy { get; init; }
    /// <summary>
    /// Modes by VEEGAN's and PacGAN's rule (their released code): a mode is captured when at least one high-quality
    /// sample has it as its nearest mode. <see cref="ModesCovered"/> is this project's stricter rule (≥ minSamplesPerMode).
    /// </summary>
    [Id(8)] public int? ModesWithAnyHighQuality { get; init; }
}

/// <summary>Evaluation of an image GAN by the digit classifier (the image analogue of modes: classes).</summary>
[GenerateSerializer, Immutable, Alias("gan.ImageMetrics")]
public sealed record ImageMetrics(
    [property: Id(0)] long Step,
    [property: Id(1)] int ClassesCovered,
    [property: Id(2)] int ClassCount,
    [property: Id(3)] double ClassKl,
    [property: Id(4)] double ConfidentFraction,
    [property: Id(5)] double FrechetDistance,
    [property: Id(6)] double MeanDReal,
    [property: Id(7)] double MeanDFake)
{
    /// <summary>Conditional GANs: fraction of images the classifier assigns to the class they were generated for.</summary>
    [Id(8)] public double? LabelAccuracy { get; init; }
}

/// <summary>One point of the loss and D(x) curves, averaged over the steps since the previous point.</summary>
[GenerateSerializer, Immutable, Alias("gan.CurvePoint")]
public sealed record CurvePoint(
    [property: Id(0)] long Step,
    [property: Id(1)] double DLoss,
    [property: Id(2)] double GLoss,
    [property: Id(3)] double DReal,
    [property: Id(4)] double DFake)
{
    /// <summary>Mean L2 norm of G's parameter gradient over the interval.</summary>
    [Id(5)] public double GradNormG { get; init; }
    /// <summary>Mean L2 norm of D's parameter gradient (after its last step of each schedule step).</summary>
    [Id(6)] public double GradNormD { get; init; }
}

[GenerateSerializer, Immutable, Alias("gan.MemberStatus")]
public sealed record MemberStatus
{
    [Id(0)] public required string MemberId { get; init; }
    [Id(1)] public MemberState State { get; init; }
    [Id(2)] public long Step { get; init; }
    [Id(3)] public long TotalSteps { get; init; }
    [Id(4)] public double StepsPerSecond { get; init; }
    [Id(5)] public CurvePoint? Latest { get; init; }
    [Id(6)] public MixtureMetrics? Evaluation { get; init; }
    [Id(7)] public long CheckpointStep { get; init; }
    [Id(8)] public string? Error { get; init; }
    [Id(9)] public ImageMetrics? ImageEvaluation { get; init; }
    /// <summary>
    /// The checkpoint step the member last resumed from (on activation, or reloading after a failed step); null when
    /// it started from nothing or has not resumed. With <see cref="RestartedFromScratch"/>: 0.
    /// </summary>
    [Id(10)] public long? ResumedFromStep { get; init; }
    /// <summary>It had checkpoints, none was usable, and its spec let it train again from step 0 (checkpoint.restartIfUnusable).</summary>
    [Id(11)] public bool RestartedFromScratch { get; init; }
    /// <summary>Checkpoints passed over when it last resumed, newest first, each with the reason.</summary>
    [Id(12)] public IReadOnlyList<SkippedCheckpoint> SkippedCheckpoints { get; init; } = [];
    /// <summary>What a running member is doing between training steps, for the console ("evaluating", …); null while it trains.</summary>
    [Id(13)] public string? Activity { get; init; }
}

/// <summary>Everything a report needs about one member: status, spec, curves and the latest evaluated samples.</summary>
[GenerateSerializer, Immutable, Alias("gan.MemberReport")]
public sealed record MemberReport
{
    [Id(0)] public required MemberStatus Status { get; init; }
    [Id(1)] public required GanSpec Spec { get; init; }
    [Id(2)] public IReadOnlyList<CurvePoint> Curve { get; init; } = [];
    [Id(3)] public IReadOnlyList<MixtureMetrics> Evaluations { get; init; } = [];
    /// <summary>The samples behind <see cref="MemberStatus.Evaluation"/> (rows × data dimension), if any.</summary>
    [Id(4)] public Tensors.TensorMessage? Samples { get; init; }
    [Id(5)] public string? CheckpointPath { get; init; }
    [Id(6)] public IReadOnlyList<ImageMetrics> ImageEvaluations { get; init; } = [];
}
