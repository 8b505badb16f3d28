using GanCluster.Gan.Specs;
using GanCluster.Contracts.Workers;

namespace GanCluster.Grains.Members;

/// <summary>
/// The alternating schedule (training.mode alternating), run in stretches: the coordinator hands the discriminator
/// worker a run of steps, which D drives with G directly (G lends D its network on the same silo, links to it from
/// another, or else takes one grain call per step). A run ends at the next evaluation, checkpoint or PBT report, so
/// those see both workers at the same step, and once <see cref="Budget"/> has passed after at least
/// <see cref="MinRunSteps"/>, so that the coordinator publishes progress and serves pause and cancel promptly. Where a
/// run ends never changes the result: G's noise stream and D's data stream are the same however the steps are grouped.
/// </summary>
internal static class AlternatingSchedule
{
    /// <summary>A run takes no further step after this long, once it has taken <see cref="MinRunSteps"/>.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(100);
    /// <summary>A run takes at least this many steps (within its count), however long they take.</summary>
    public const int MinRunSteps = 8;
    public const int MaxRunSteps = 10_000;

    /// <summary>Steps until the next evaluation, checkpoint, PBT report or the end, at most <paramref name="maxSteps"/>.</summary>
    public static int StepsToBoundary(GanSpec spec, long step, long total, long pbtInterval, int maxSteps)
    {
        long end = Math.Min(total, step + maxSteps);
        end = Math.Min(end, NextMultiple(step, spec.Evaluation.Every));
        end = Math.Min(end, NextMultiple(step, spec.Checkpoint.Every));
        if (pbtInterval > 0) end = Math.Min(end, NextMultiple(step, pbtInterval));
        return (int)Math.Max(1, end - step);
    }

    public static long NextMultiple(long step, long every) => (step / every + 1) * every;

    /// <summary>One run from <paramref name="step"/>; the last entry is the diverged step if one diverged.</summary>
    public static async Task<IReadOnlyList<StepStatistics>> RunAsync(
        IDiscriminatorWorkerGrain discriminator, GanSpec spec, long step, long total, long pbtInterval)
    {
        int count = StepsToBoundary(spec, step, total, pbtInterval, MaxRunSteps);
        var run = await discriminator.TrainAlternatingAsync(
            new AlternatingRun(step, count, spec.Training.DStepsPerGStep, spec.Training.MaxLoss, Budget) { MinSteps = MinRunSteps });
        if (run.Step != step || run.DLoss.Length is 0 || run.DLoss.Length > count)
            throw new InvalidOperationException($"the discriminator of a member answered a run of {count} steps from {step} with {run.DLoss.Length} steps from {run.Step}");
        var steps = new StepStatistics[run.DLoss.Length];
        for (int i = 0; i < steps.Length; i++)
            steps[i] = new StepStatistics(run.DLoss[i], run.GLoss[i], run.MeanDReal[i], run.MeanDFake[i], run.GradNormG[i], run.GradNormD[i]);
        return steps;
    }
}
