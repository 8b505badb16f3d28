using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>
/// Matrix-multiply floating-point operations of one alternating schedule step of an MLP GAN (the roofline's numerator).
/// Counts the linear layers only (2·rows·in·out per product; biases, activations, losses and the optimizer are
/// element-wise and left out), with exactly the products the schedule runs:
/// <list type="bullet">
/// <item>G forward on k·B rows without a graph (D's fakes) and on B rows with one (G's batch);</item>
/// <item>k D steps, each forward on B real and B fake rows and backward to the weights and to every layer's input but
/// the first (the data need no gradient);</item>
/// <item>G's feedback: D forward on B rows and backward to the input only (autograd.grad at G's batch);</item>
/// <item>G backward through its kept batch: weight gradients, and input gradients of every layer but the first.</item>
/// </list>
/// </summary>
public static class StepFlops
{
    /// <summary>Σ in·out over the linear layers of a network, and in·out of its first one.</summary>
    public static (long Total, long First) LinearProducts(nn.Module network)
    {
        long total = 0, first = -1;
        foreach (var (name, module) in network.named_modules())
        {
            if (module is Conv1d or Conv2d or ConvTranspose2d)
                throw new NotSupportedException("StepFlops counts MLPs only (the network has convolutions)");
            if (module is not Linear linear) continue;
            long product = linear.in_features * linear.out_features;
            // The layer that takes the network's input: MlpStack names it linear0 (named_modules' order is not the forward order).
            if (name == "linear0" || name.EndsWith(".linear0", StringComparison.Ordinal)) first = product;
            total += product;
        }
        if (first < 0) throw new NotSupportedException("StepFlops counts MlpStack networks only (no layer named linear0)");
        return (total, first);
    }

    /// <summary>FLOPs of one schedule step with k D steps per G step and batch B.</summary>
    public static double PerStep((long Total, long First) generator, (long Total, long First) discriminator, int batch, int discriminatorSteps)
    {
        double b = batch, k = discriminatorSteps;
        double g = generator.Total, g0 = generator.First, d = discriminator.Total, d0 = discriminator.First;
        double generatorForward = 2 * (k * b + b) * g;
        double discriminatorSteps_ = k * (2 * (2 * b) * d + 2 * (2 * b) * d + 2 * (2 * b) * (d - d0));
        double feedback = 2 * b * d + 2 * b * d;
        double generatorBackward = 2 * b * g + 2 * b * (g - g0);
        return generatorForward + discriminatorSteps_ + feedback + generatorBackward;
    }

    /// <summary>FLOPs of one step of <paramref name="loop"/>'s model and schedule.</summary>
    public static double PerStep(ReferenceLoop loop) => PerStep(
        LinearProducts(loop.Generator.Network), LinearProducts(loop.Discriminator.Network),
        loop.Spec.Training.BatchSize, loop.Spec.Training.DStepsPerGStep);
}
