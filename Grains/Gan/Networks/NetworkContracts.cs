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
