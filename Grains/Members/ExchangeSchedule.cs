using GanCluster.Gan.Specs;
using GanCluster.Contracts.Workers;

namespace GanCluster.Grains.Members;

/// <summary>
/// The parameter-exchange schedule (training.mode exchange): in each round both workers take the same number of
/// steps at the same time, each against its shadow copy of the other network, and when the round ends on a multiple
/// of training.exchangeEvery they swap weights (G's go to D's shadow G, D's to G's shadow D). Rounds also end at
/// every evaluation, checkpoint and PBT report, so those see both workers at the same step, and after at most
/// <see cref="MaxRoundSteps"/> steps, so that pause and cancel are served promptly. Round boundaries never change
/// the result: only the exchange points do, and they fall on multiples of N whatever the rounds.
/// </summary>
internal static class ExchangeSchedule
{
    public const int MaxRoundSteps = 20;

    public static bool IsExchange(GanSpec spec) => spec.Training.Mode == "exchange";

    /// <summary>Steps in the round that starts at <paramref name="step"/>.</summary>
    public static int RoundLength(GanSpec spec, long step, long total, long pbtInterval)
    {
        long toExchange = AlternatingSchedule.NextMultiple(step, spec.Training.ExchangeEvery) - step;
        return AlternatingSchedule.StepsToBoundary(spec, step, total, pbtInterval, (int)Math.Min(MaxRoundSteps, toExchange));
    }

    /// <summary>
    /// One round: both workers step <paramref name="count"/> times concurrently, then exchange weights if the round
    /// ends on an exchange point. Returns the steps' statistics, cut at the first diverged step (no exchange then).
    /// </summary>
    public static async Task<IReadOnlyList<StepStatistics>> RunRoundAsync(
        IGeneratorWorkerGrain generator, IDiscriminatorWorkerGrain discriminator, GanSpec spec, long step, int count)
    {
        var g = generator.TrainAgainstShadowAsync(step, count).AsTask();
        var d = discriminator.TrainAgainstShadowAsync(step, count).AsTask();
        await Task.WhenAll(g, d);
        var (gs, ds) = (await g, await d);
        int taken = Math.Min(gs.Loss.Length, ds.Loss.Length);
        var steps = new StepStatistics[taken];
        for (int i = 0; i < taken; i++)
        {
            steps[i] = new StepStatistics(ds.Loss[i], gs.Loss[i], ds.MeanDReal![i], ds.MeanDFake![i], gs.GradNorm[i], ds.GradNorm[i]);
            if (steps[i].Divergence(spec.Training.MaxLoss) is not null) return steps[..(i + 1)];
        }
        long end = step + count;
        if (taken == count && end % spec.Training.ExchangeEvery == 0)
        {
            var gWeights = generator.ExportWeightsAsync().AsTask();
            var dWeights = discriminator.ExportWeightsAsync().AsTask();
            await Task.WhenAll(gWeights, dWeights);
            await Task.WhenAll(
                generator.ImportShadowAsync(end, new ShadowWeights(await dWeights)).AsTask(),
                discriminator.ImportShadowAsync(end, new ShadowWeights(await gWeights)).AsTask());
        }
        return steps;
    }
}
