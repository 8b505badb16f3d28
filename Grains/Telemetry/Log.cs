using Microsoft.Extensions.Logging;

namespace GanCluster.Grains.Telemetry;

/// <summary>Source-generated log lines; member and step are structured fields on every line about a member.</summary>
public static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Member {MemberId} starts at step {Step} of {TotalSteps}")]
    public static partial void MemberStarting(ILogger logger, string memberId, long step, long totalSteps);

    [LoggerMessage(2, LogLevel.Information, "Member {MemberId} at step {Step}: D loss {DLoss:F4}, G loss {GLoss:F4}, D(real) {DReal:F3}, D(fake) {DFake:F3}, {StepsPerSecond:F1} steps/s")]
    public static partial void MemberProgress(ILogger logger, string memberId, long step, double dLoss, double gLoss, double dReal, double dFake, double stepsPerSecond);

    [LoggerMessage(3, LogLevel.Information, "Member {MemberId} evaluated at step {Step}: {ModesCovered}/{ModesTotal} modes, {HighQuality:P1} high quality, reverse KL {ReverseKl:F3}")]
    public static partial void MemberEvaluated(ILogger logger, string memberId, long step, int modesCovered, int modesTotal, double highQuality, double reverseKl);

    [LoggerMessage(4, LogLevel.Information, "Member {MemberId} checkpointed at step {Step} ({Bytes} bytes, {Seconds:F3} s)")]
    public static partial void MemberCheckpointed(ILogger logger, string memberId, long step, long bytes, double seconds);

    [LoggerMessage(5, LogLevel.Information, "Member {MemberId} is {State} at step {Step}")]
    public static partial void MemberStateChanged(ILogger logger, string memberId, Contracts.Members.MemberState state, long step);

    [LoggerMessage(6, LogLevel.Warning, "Member {MemberId} diverged at step {Step}: {Reason}")]
    public static partial void MemberDiverged(ILogger logger, string memberId, long step, string reason);

    [LoggerMessage(7, LogLevel.Error, "Member {MemberId} failed at step {Step}")]
    public static partial void MemberFailed(ILogger logger, Exception exception, string memberId, long step);

    [LoggerMessage(8, LogLevel.Warning, "Member {MemberId}: a worker lost its state at step {Step} ({Reason}); reloading from the checkpoint at step {CheckpointStep}")]
    public static partial void WorkerReloading(ILogger logger, string memberId, long step, string reason, long checkpointStep);

    [LoggerMessage(9, LogLevel.Warning, "Member {MemberId}: checkpoint at step {Step} is unusable ({Reason}); trying an older one")]
    public static partial void CheckpointUnusable(ILogger logger, string memberId, long step, string reason);

    [LoggerMessage(17, LogLevel.Error, "Member {MemberId} failed: {Error}")]
    public static partial void MemberCannotResume(ILogger logger, string memberId, string error);

    [LoggerMessage(18, LogLevel.Warning, "Member {MemberId}: no checkpoint is usable ({Skipped}); training again from step 0, as its spec allows (checkpoint.restartIfUnusable)")]
    public static partial void MemberRestartingFromScratch(ILogger logger, string memberId, string skipped);

    [LoggerMessage(11, LogLevel.Warning, "Member {MemberId}: no checkpoint at step {Step} while suspending; it will resume from step {CheckpointStep}")]
    public static partial void SuspendCheckpointFailed(ILogger logger, Exception exception, string memberId, long step, long checkpointStep);

    [LoggerMessage(12, LogLevel.Information, "Silo stopping: suspending {Count} training members (each checkpoints first)")]
    public static partial void SuspendingMembers(ILogger logger, int count);

    [LoggerMessage(13, LogLevel.Information, "Member {MemberId} evaluated at step {Step}: {ClassesCovered}/{ClassCount} classes, Fréchet distance {FrechetDistance:F2}, class KL {ClassKl:F3}")]
    public static partial void MemberImagesEvaluated(ILogger logger, string memberId, long step, int classesCovered, int classCount, double frechetDistance, double classKl);

    [LoggerMessage(14, LogLevel.Warning, "Member {MemberId}: step {Step} failed (attempt {Attempt} of {MaxAttempts}); replaying from the checkpoint at step {CheckpointStep}")]
    public static partial void StepRetrying(ILogger logger, Exception exception, string memberId, long step, int attempt, int maxAttempts, long checkpointStep);

    [LoggerMessage(15, LogLevel.Information, "Member {MemberId} exploits {DonorId} at its step {DonorStep} and explores: {Hyperparameters}")]
    public static partial void Exploited(ILogger logger, string memberId, string donorId, long donorStep, string hyperparameters);

    [LoggerMessage(16, LogLevel.Warning, "Member {MemberId} could not load {DonorId}'s checkpoint at step {DonorStep}; it carries on from its own")]
    public static partial void ExploitFailed(ILogger logger, Exception exception, string memberId, string donorId, long donorStep);

    [LoggerMessage(10, LogLevel.Information, "Resuming member {MemberId} after a silo start")]
    public static partial void ResumingMember(ILogger logger, string memberId);

    [LoggerMessage(40, LogLevel.Information, "Compute: {Threads} threads of {IntraOpThreads} intra-op thread(s), device {Device}; CPU kernels: {Kernels}")]
    public static partial void ComputeStarted(ILogger logger, int threads, int intraOpThreads, string device, string kernels);
}
