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

    public MlpGenerator(int noiseDim, int dataDim, NetworkSpec spec, int classCount = 0) : base("generator")
    {
        this.classCount = classCount;
        layers = MlpStack.Build(noiseDim + classCount, dataDim, spec);
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
    private readonly Linear head;
    private readonly int classCount;
    private readonly int packing;

    /// <param name="packing">PacGAN's m: D scores tuples of m samples (each with its class when conditional); 1 is off.</param>
    public MlpDiscriminator(int dataDim, NetworkSpec spec, int classCount = 0, int minibatchKernels = 0, int minibatchKernelDim = 5, int packing = 1)
        : base("discriminator")
    {
        if (packing < 1) throw new ArgumentOutOfRangeException(nameof(packing), packing, "techniques.packing: must be 1 (off) or more");
        this.classCount = classCount;
        this.packing = packing;
        body = MlpStack.Hidden((dataDim + classCount) * packing, spec, out int features);
        if (minibatchKernels > 0)
        {
            minibatch = new MinibatchDiscrimination(features, minibatchKernels, minibatchKernelDim);
            features += minibatchKernels;
        }
        head = Linear(features, 1);
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

    /// <summary>width × depth hidden layers with their activations; <paramref name="outputs"/> is the last width.</summary>
    public static Sequential Hidden(int inputs, NetworkSpec spec, out int outputs)
    {
        var modules = new List<(string, Module<Tensor, Tensor>)>();
        int width = inputs;
        for (int i = 0; i < spec.Depth; i++)
        {
            modules.Add(($"linear{i}", Linear(width, spec.Width)));
            modules.Add(($"act{i}", Activation(spec.Activation)));
            width = spec.Width;
        }
        outputs = width;
        return Sequential(modules);
    }

    private static Module<Tensor, Tensor> Activation(string name) => name switch
    {
        "relu" => ReLU(),
        "leaky_relu" => LeakyReLU(0.2),
        "tanh" => Tanh(),
        _ => throw new ArgumentException($"model.*.activation: unknown activation '{name}' (relu, leaky_relu, tanh)"),
    };
}

