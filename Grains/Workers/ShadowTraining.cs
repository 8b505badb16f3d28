using GanCluster.Contracts.Workers;
using GanCluster.Gan.Training;

namespace GanCluster.Grains.Workers;

/// <summary>Exchange mode on the generator worker: steps against its shadow D, and the D weights it is sent.</summary>
public sealed partial class GeneratorWorkerGrain
{
    public async ValueTask<ShadowSteps> TrainAgainstShadowAsync(long step, int count)
    {
        var model = Ready(step);
        ShadowRound.CheckCount(count);
        return await Compute.RunAsync(() =>
        {
            var losses = new double[count];
            var norms = new double[count];
            for (int i = 0; i < count; i++)
            {
                (losses[i], norms[i]) = model.StepAgainstShadow();
                // A diverged step ends the round: the coordinator stops the member there.
                if (!double.IsFinite(losses[i])) return new ShadowSteps(model.Step, losses[..(i + 1)], norms[..(i + 1)], null, null);
            }
            return new ShadowSteps(model.Step, losses, norms, null, null);
        });
    }

    public async ValueTask ImportShadowAsync(long step, ShadowWeights weights)
    {
        var model = Ready(step);
        await Compute.RunAsync(() => model.ImportShadow(weights.Bytes));
    }
}

/// <summary>Exchange mode on the discriminator worker: steps on its shadow G's fakes, and the G weights it is sent.</summary>
public sealed partial class DiscriminatorWorkerGrain
{
    public async ValueTask<ShadowSteps> TrainAgainstShadowAsync(long step, int count)
    {
        var model = Ready(step);
        ShadowRound.CheckCount(count);
        return await Compute.RunAsync(() =>
        {
            var losses = new double[count];
            var norms = new double[count];
            var real = new double[count];
            var fake = new double[count];
            for (int i = 0; i < count; i++)
            {
                (losses[i], real[i], fake[i], norms[i]) = model.StepAgainstShadow();
                if (!double.IsFinite(losses[i]))
                    return new ShadowSteps(model.Step, losses[..(i + 1)], norms[..(i + 1)], real[..(i + 1)], fake[..(i + 1)]);
            }
            return new ShadowSteps(model.Step, losses, norms, real, fake);
        });
    }

    public async ValueTask ImportShadowAsync(long step, ShadowWeights weights)
    {
        var model = Ready(step);
        await Compute.RunAsync(() => model.ImportShadow(weights.Bytes));
    }
}

internal static class ShadowRound
{
    /// <summary>Upper bound of one round, so that a worker call stays short (pause and cancel wait for it).</summary>
    public const int MaxSteps = 1000;

    public static void CheckCount(int count)
    {
        if (count is < 1 or > MaxSteps) throw new ArgumentOutOfRangeException(nameof(count), count, $"a round takes 1 to {MaxSteps} steps");
    }
}
