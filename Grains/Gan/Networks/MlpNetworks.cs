using GanCluster.Gan.Specs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Gan.Networks;

/// <summary>
/// G: noise (noiseDim) → width × depth hidden layers → a sample (dataDim), linear output. Conditional (classCount &gt; 0):
/// the one-hot class is concatenated to the noise (Mirza &amp; Osindero 2014).
/// </summary>
public sealed class MlpGenerator : GeneratorNetwork
{
    private readonly Sequential layers;
    private readonly int classCount;

    /// <param name="initStd">0: the library's initialization; else weights N(0, initStd) and zero biases.</param>
    public MlpGenerator(int noiseDim, int dataDim, NetworkSpec spec, int classCount = 0, double initStd = 0) : base("generator")
    {
        this.classCount = classCount;
        layers = MlpStack.Build(noiseDim + classCount, dataDim, spec);
        MlpStack.Initialize(layers, initStd);
        RegisterComponents();
    }

    public override Tensor Generate(Tensor z, Tensor? labels) => layers.forward(OneHot.Join(z, labels, classCount));

}

internal static class OneHot
{
    /// <summary>[B, F] ⊕ one-hot(labels) [B, classCount]; the input unchanged when unconditional.</summary>
    public static Tensor Join(Tensor x, Tensor? labels, int classCount)
    {
        if (classCount == 0) return x;
        if (labels is null) throw new ArgumentException("a conditional network needs class labels");
        using var hot = nn.functional.one_hot(labels, classCount).to(x.dtype);
        return cat([x, hot], 1);
    }
}

/// <summary>
/// D: a sample (dataDim) → width × depth hidden layers (the features) → [minibatch discrimination] → one logit;
/// D(x) = sigmoid(logit). Conditional: the one-hot class is concatenated to the sample.
/// </summary>
public sealed class MlpDiscriminator : DiscriminatorNetwork
{
    private readonly Sequential body;
    private readonly Module<Tensor, Tensor>? minibatch;
    private readonly Module<Tensor, Tensor> head;
    private readonly int classCount;
    private readonly int packing;

    /// <param name="packing">PacGAN's m: D scores tuples of m samples (each with its class when conditional); 1 is off.</param>
    /// <param name="spectralNorm">Every hidden layer and the head compute with W / σ(W) (<see cref="SpectralNorm"/>).</param>
    public MlpDiscriminator(int dataDim, NetworkSpec spec, int classCount = 0, int minibatchKernels = 0, int minibatchKernelDim = 5, int packing = 1, double initStd = 0,
        bool spectralNorm = false)
        : base("discriminator")
    {
        if (packing < 1) throw new ArgumentOutOfRangeException(nameof(packing), packing, "techniques.packing: must be 1 (off) or more");
        this.classCount = classCount;
        this.packing = packing;
        body = MlpStack.Hidden((dataDim + classCount) * packing, spec, out int features, spectralNorm);
        if (minibatchKernels > 0)
        {
            minibatch = new MinibatchDiscrimination(features, minibatchKernels, minibatchKernelDim);
            features += minibatchKernels;
        }
        head = SpectralNorm.Linear(features, 1, spectralNorm);
        MlpStack.Initialize(body, initStd);
        MlpStack.Initialize(head, initStd);
        RegisterComponents();
    }


    public override (Tensor Logits, Tensor Features) Discriminate(Tensor x, Tensor? labels)
    {
        var features = body.forward(Packing.Pack(OneHot.Join(x, labels, classCount), packing));
        var h = minibatch is null ? features : minibatch.forward(features);
        return (head.forward(h).squeeze(-1), features);
    }
}

internal static class MlpStack
{
    public static Sequential Build(int inputs, int outputs, NetworkSpec spec)
    {
        var hidden = Hidden(inputs, spec, out int width);
        hidden.append("out", Linear(width, outputs));
        return hidden;
    }

    /// <summary>
    /// width × depth hidden layers, each a Linear (no bias before a normalization, which shifts anyway), its
    /// normalization (spec.Normalization: batch, layer or none for MLPs) and its activation, or a maxout layer of
    /// spec.Maxout pieces (a Linear to width·pieces and the max over the pieces: its own activation);
    /// <paramref name="outputs"/> is the last width. <paramref name="spectral"/>: each Linear spectrally normalised.
    /// </summary>
    public static Sequential Hidden(int inputs, NetworkSpec spec, out int outputs, bool spectral = false)
    {
        var modules = new List<(string, Module<Tensor, Tensor>)>();
        string normalization = spec.Normalization ?? "none";
        int pieces = Math.Max(1, spec.Maxout);
        int width = inputs;
        for (int i = 0; i < spec.Depth; i++)
        {
            modules.Add(($"linear{i}", SpectralNorm.Linear(width, (long)spec.Width * pieces, spectral, hasBias: normalization == "none")));
            if (pieces > 1) modules.Add(($"maxout{i}", new Maxout(pieces)));
            if (normalization == "batch") modules.Add(($"norm{i}", BatchNorm1d(spec.Width)));
            else if (normalization == "layer") modules.Add(($"norm{i}", LayerNorm(spec.Width)));
            if (pieces == 1) modules.Add(($"act{i}", Activation(spec.Activation)));
            width = spec.Width;
        }
        outputs = width;
        return Sequential(modules);
    }

    /// <summary>model.initStd: every Linear's weights N(0, std), its bias zero; 0 leaves the library's initialization.</summary>
    public static void Initialize(Module module, double std)
    {
        if (std <= 0) return;
        using var _ = no_grad();
        foreach (var linear in new[] { module }.Concat(module.modules()).Distinct().OfType<Linear>())
        {
            init.normal_(linear.weight!, 0, std);
            if (linear.bias is { } bias) init.zeros_(bias);
        }
    }

    private static Module<Tensor, Tensor> Activation(string name) => name switch
    {
        "relu" => ReLU(),
        "leaky_relu" => LeakyReLU(0.2),
        "tanh" => Tanh(),
        _ => throw new ArgumentException($"model.*.activation: unknown activation '{name}' (relu, leaky_relu, tanh)"),
    };
}


/// <summary>Maxout (Goodfellow et al. 2013): [B, width·pieces] → the max of each group of pieces, [B, width].</summary>
internal sealed class Maxout(int pieces) : Module<Tensor, Tensor>("maxout")
{
    public override Tensor forward(Tensor x) => x.view(x.shape[0], -1, pieces).amax([-1]);
}
