using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Grains.Storage;

namespace GanCluster.Grains.Members;

/// <summary>
/// The coordinator's persisted state, consistent with its last checkpoint: curves and evaluations up to
/// <see cref="Step"/>, so that a resumed member reports exactly what an uninterrupted one would.
/// </summary>
public sealed class CoordinatorState
{
    public string? MemberId { get; set; }
    public GanSpec? Spec { get; set; }
    public MemberState State { get; set; }
    /// <summary>Step of the last checkpoint.</summary>
    public long Step { get; set; }
    public CheckpointManifest? LastCheckpoint { get; set; }
    public List<CurvePoint> Curve { get; set; } = [];
    public List<MixtureMetrics> Evaluations { get; set; } = [];
    public List<ImageMetrics> ImageEvaluations { get; set; } = [];
    public TensorMessage? Samples { get; set; }
    public string? Error { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>The sweep this member belongs to, which it keeps informed; null for a member on its own.</summary>
    public string? SweepId { get; set; }
    /// <summary>Population-based training: steps between reports to the sweep; 0 when not under PBT.</summary>
    public long PbtInterval { get; set; }
    /// <summary>How the member last resumed (see <see cref="MemberStatus"/>'s fields of the same names).</summary>
    public long? ResumedFromStep { get; set; }
    public bool RestartedFromScratch { get; set; }
    public List<SkippedCheckpoint> SkippedCheckpoints { get; set; } = [];
}
