using GanCluster.Gan.Compute;
using static TorchSharp.torch;

namespace GanCluster.Gan.Networks;

/// <summary>
/// A generator: noise [B, noiseDim] (and, for conditional GANs, class labels [B] as int64) to samples
/// ([B, dataDim] for mixtures, [B, 1, 28, 28] in [−1, 1] for images).
/// </summary>
public abstract class GeneratorNetwork : nn.Module
{
    protected GeneratorNetwork(string name) : base(name) => CpuKernels.EnsureConfigured();

    public abstract Tensor Generate(Tensor z, Tensor? labels);
}

/// <summary>
/// A discriminator: samples (and labels, when conditional) to one logit each, D(x) = sigmoid(logit), together with
/// the features of its last hidden layer ([B, F]), which feature matching compares on real and fake batches.
/// </summary>
public abstract class DiscriminatorNetwork : nn.Module
{
    protected DiscriminatorNetwork(string name) : base(name) => CpuKernels.EnsureConfigured();

    public abstract (Tensor Logits, Tensor Features) Discriminate(Tensor x, Tensor? labels);
}

/// <summary>
/// PacGAN packing (Lin et al. 2018): a batch of B samples [B, F…] becomes B/m tuples of m consecutive samples, joined
/// along the first feature axis ([B/m, m·F…]: an MLP's inputs, an image's channels), which D scores together.
/// </summary>
public static class Packing
{
    public static Tensor Pack(Tensor x, int m)
    {
        if (m == 1) return x;
        long rows = x.shape[0];
        if (rows % m != 0) throw new ArgumentException($"techniques.packing: a batch of {rows} samples does not split into tuples of {m}");
        var shape = x.shape.ToArray();
        shape[0] = rows / m;
        shape[1] *= m;
        return x.reshape(shape);
    }
}
