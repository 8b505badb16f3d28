
namespace GanCluster.Gan.Specs;

/// <summary>
/// A documented rough estimate of the device memory one member needs, from its spec alone (nothing is built, so a
/// spec asking for a huge model is judged in microseconds): each worker holds its network's parameters four times
/// over in float32 — the weights, the gradients and Adam's two moments — plus the activations of its batches kept for
/// back-propagation (and their gradients), plus, in exchange mode, its shadow copy of the other network and that
/// network's activations. Parameter counts follow the networks' layer shapes exactly (a test compares them with built
/// networks); activations count each layer's output once per sample, doubled for its gradient, which is within a
/// small factor of what libtorch allocates. Allocator slack, libtorch's own workspace and CUDA's context are not
/// counted: treat the figure as a lower bound.
/// </summary>
public sealed record ModelFootprint(long GeneratorParameters, long DiscriminatorParameters, long GeneratorWorkerBytes, long DiscriminatorWorkerBytes)
{
    public const int BytesPerValue = sizeof(float);
    /// <summary>Weights, gradients, Adam's first and second moments.</summary>
    public const int CopiesPerParameter = 4;

    /// <summary>The larger of the two workers: what one device must hold at least.</summary>
    public long LargestWorkerBytes => Math.Max(GeneratorWorkerBytes, DiscriminatorWorkerBytes);

    public static ModelFootprint Estimate(GanSpec spec)
    {
        var m = spec.Model;
        bool image = SpecValidator.IsImageData(spec.Data.Kind);
        int dataDim = image ? 28 * 28 : spec.Data.Kind == "gaussian1d" ? 1 : 2;
        int classes = !spec.Techniques.Conditional ? 0 : spec.Data.Kind switch
        {
            "ring" => spec.Data.Modes,
            "grid" => spec.Data.Size * spec.Data.Size,
            "gaussian1d" => 1,
            _ => 10,
        };
        var mb = spec.Techniques.MinibatchDiscrimination;
        int kernels = mb.Kernels, kernelDim = mb.KernelDim;
        long batch = spec.Training.BatchSize, k = spec.Training.DStepsPerGStep;

        (long gParams, long gActs) = m.Architecture switch
        {
            "dcgan" => Dcgan(m.GeneratorInputs(), m.Generator.Width, classes),
            "lapgan" => Lapgan(m.GeneratorInputs(), m.Generator.Width, classes),
            _ => Mlp(m.GeneratorInputs() + classes, dataDim, m.Generator),
        };
        (long dParams, long dActs, long features) = m.Architecture switch
        {
            "dcgan" or "lapgan" => DcganDiscriminator(m.Discriminator.Width, m.Discriminator.NormalizationFor(m.Architecture, discriminator: true)),
            _ => MlpHidden(dataDim + classes, m.Discriminator),
        };
        dParams += (long)features * kernels * kernelDim + features + kernels + 1 + (long)classes * (image ? features : 0);
        // Minibatch discrimination's broadcast L1 distances: kernels × B × B × kernelDim, or cdist beyond 32 M elements.
        long minibatchActs = kernels == 0 ? 0 : Math.Min((long)kernels * batch * batch * kernelDim, 32L << 20);

        long bytes(long values) => values * BytesPerValue;
        // G: k·B samples without a graph for D, B with one; D: a real and a fake batch per D step (twice with WGAN-GP).
        long gWorker = bytes(gParams * CopiesPerParameter + 2 * batch * gActs + k * batch * dataDim);
        long penalty = spec.Loss.Kind == "wasserstein_gp" ? 2 : 1;
        long dWorker = bytes(dParams * CopiesPerParameter + penalty * 2 * (2 * batch * dActs + minibatchActs));
        if (spec.Training.Mode == "exchange")
        {
            gWorker += bytes(dParams + 2 * (batch * dActs + minibatchActs));
            dWorker += bytes(gParams + k * batch * gActs);
        }
        return new ModelFootprint(gParams, dParams, gWorker, dWorker);
    }

    private static (long Parameters, long Activations) Mlp(int inputs, int outputs, NetworkSpec n)
    {
        var (parameters, activations, width) = MlpHidden(inputs, n);
        return (parameters + (long)width * outputs + outputs, activations + outputs);
    }

    private static (long Parameters, long Activations, long Features) MlpHidden(int inputs, NetworkSpec n)
    {
        long parameters = 0, activations = 0, width = inputs, pieces = Math.Max(1, n.Maxout);
        for (int i = 0; i < n.Depth; i++)
        {
            parameters += (width * n.Width + n.Width) * pieces;
            activations += (pieces + 1L) * n.Width;
            width = n.Width;
        }
        return (parameters, activations, width);
    }

    private static (long, long) Dcgan(int noiseDim, long w, int classes)
    {
        long inputs = noiseDim + classes;
        long parameters = (long)classes * classes + inputs * 2 * w * 49 + 2 * 2 * w + 2 * w * w * 16 + 2 * w + w * 16 + 1;
        long activations = 3 * 2 * w * 49 + 3 * w * 196 + 2 * 784;
        return (parameters, activations);
    }

    private static (long, long) Lapgan(int noiseDim, long w, int classes)
    {
        long code = noiseDim + classes;
        long parameters = (long)classes * classes + code * 4 * w + 2 * 4 * w + 4 * w * 49 + 49;
        long activations = 3 * 4 * w + 49;
        foreach (var (width, size) in new[] { (w, 14L), (Math.Max(1, w / 2), 28L) })
        {
            long area = size * size;
            parameters += code * area + area + 2 * width * 9 + 2 * width + width * width * 9 + 2 * width + width * 9 + 1;
            activations += (6 * width + 4) * area;
        }
        return (parameters, activations + 784);
    }

    private static (long, long, long) DcganDiscriminator(long w, string normalization)
    {
        long features = 2 * w * 49;
        long parameters = 16 * w + w + w * 2 * w * 16 + (normalization == "none" ? 2 * w : 2 * 2 * w);
        long activations = 2 * w * 196 + 3 * 2 * w * 49;
        return (parameters, activations, features);
    }
}
