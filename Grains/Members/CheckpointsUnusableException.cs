using GanCluster.Contracts.Members;

namespace GanCluster.Grains.Members;

/// <summary>A member had checkpoints and none of them can be used; it is not trained again from step 0 unless its spec says so.</summary>
public sealed class CheckpointsUnusableException(string memberId, IReadOnlyList<SkippedCheckpoint> skipped) : Exception(
    $"member {memberId} cannot resume: no checkpoint is usable ({SkippedCheckpoint.Describe(skipped)}). It is not trained again " +
    "from step 0 unless its spec sets checkpoint.restartIfUnusable to true; to start over, run the spec under another member id")
{
    public IReadOnlyList<SkippedCheckpoint> Skipped { get; } = skipped;
}
