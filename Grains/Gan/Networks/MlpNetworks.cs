using GanCluster.Contracts.Specs;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Grains.Gan.Networks;

/// <summary>G: noise (noiseDim) → width × depth hidden layers → a sample (dataDim), linear output.</summary>
public sealed class MlpGenerator : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public MlpGenerator(int noiseDim, int dataDim, NetworkSpec spec) : base("generator")
    {
        layers = MlpStack.Build(noiseDim, dataDim, spec);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z) => layers.forward(z);
}

/// <summary>D: a sample (dataDim) → width × depth hidden layers → one logit; D(x) = sigmoid(logit).</summary>
public sealed class MlpDiscriminator : Module<Tensor, Tensor>
{
    private readonly Sequential layers;

    public MlpDiscriminator(int dataDim, NetworkSpec spec) : base("discriminator")
    {
        layers = MlpStack.Build(dataDim, 1, spec);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => layers.forward(x).squeeze(-1);
}

internal static class MlpStack
{
    public static Sequential Build(int inputs, int outputs, NetworkSpec spec)
    {
        var modules = new List<(string, Module<Tensor, Tensor>)>();
        int width = inputs;
        for (int i = 0; i < spec.Depth; i++)
        {
            modules.Add(($"linear{i}", Linear(width, spec.Width)));
            modules.Add(($"act{i}", Activation(spec.Activation)));
            width = spec.Width;
        }
        modules.Add(("out", Linear(width, outputs)));
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
