using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GanCluster.Grains.Gan.Training;

/// <summary>
/// The forward and backward passes of an MLP (Linear layers, each but the last followed by one activation) written out
/// by hand, with no autograd graph: the layers' gradients go straight into the optimizer's flat buffer
/// (<see cref="FlatAdam.GradientBufferFor"/>), a bias gradient is a matrix–vector product (autograd's column sum over
/// the batch is three times slower), activations run in place, and the input gradient is computed only when asked for.
/// A small GAN's step is mostly per-operator cost around the matrix products (BENCHMARKS.md): this path takes that
/// cost out for the MLP networks; everything else (images, minibatch discrimination, the gradient penalty's double
/// backward, feature matching) keeps autograd. <c>GANCLUSTER_MLP_BACKPROP=autograd</c> turns it off for a process.
/// The results equal autograd's within float rounding (tests), not bit for bit.
/// </summary>
internal sealed class HandMlp : IDisposable
{
    private readonly Linear[] layers;
    private readonly Activation activation;
    private readonly Tensor[] weightGradients, biasGradients;
    private Tensor? ones;

    private enum Activation { Relu, LeakyRelu, Tanh }

    /// <summary>Whether this process uses hand-written passes where they apply (GANCLUSTER_MLP_BACKPROP=autograd: never).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("GANCLUSTER_MLP_BACKPROP") != "autograd";

    private HandMlp(Linear[] layers, Activation activation, FlatAdam optimizer)
    {
        this.layers = layers;
        this.activation = activation;
        weightGradients = [.. layers.Select(l => optimizer.GradientBufferFor(l.weight!))];
        biasGradients = [.. layers.Select(l => optimizer.GradientBufferFor(l.bias!))];
    }

    /// <summary>The passes for these layers, or null where they do not apply (no layers, a layer without bias, another activation).</summary>
    public static HandMlp? For((Linear[] Layers, string Activation)? stack, FlatAdam optimizer, bool wanted = true)
    {
        if (!wanted || !Enabled || stack is not { } s || s.Layers.Length == 0 || s.Layers.Any(l => l.bias is null)) return null;
        Activation? kind = s.Activation switch
        {
            "relu" => Activation.Relu,
            "leaky_relu" => Activation.LeakyRelu,
            "tanh" => Activation.Tanh,
            _ => null,
        };
        return kind is { } k ? new HandMlp(s.Layers, k, optimizer) : null;
    }

    /// <summary>
    /// The network's output for <paramref name="x"/> ([rows, inputs]); with <paramref name="kept"/>, each layer's input
    /// is appended to it for <see cref="Backward"/>. Call under no_grad; the tensors belong to the caller's scope.
    /// </summary>
    public Tensor Forward(Tensor x, List<Tensor>? kept)
    {
        var h = x;
        for (int i = 0; i < layers.Length; i++)
        {
            kept?.Add(h);
            var y = nn.functional.linear(h, layers[i].weight!, layers[i].bias!);
            if (i < layers.Length - 1) Activate(y);
            h = y;
        }
        return h;
    }

    /// <summary>
    /// Back-propagates <paramref name="gradient"/> (dL/d output, [rows, outputs]) through the layers whose inputs
    /// <see cref="Forward"/> kept. With <paramref name="parameterGradients"/> every weight's and bias's gradient is
    /// written (not added) into the optimizer's buffer; returns dL/d input when <paramref name="inputGradient"/>.
    /// It uses up <paramref name="kept"/>: the hidden activations are overwritten with their derivatives (the first
    /// entry, the network's input, is left alone). Call under no_grad, once per forward.
    /// </summary>
    public Tensor? Backward(IReadOnlyList<Tensor> kept, Tensor gradient, bool parameterGradients, bool inputGradient)
    {
        if (kept.Count != layers.Length) throw new ArgumentException($"{kept.Count} kept inputs for {layers.Length} layers", nameof(kept));
        var g = gradient;
        for (int i = layers.Length - 1; i >= 0; i--)
        {
            if (parameterGradients)
            {
                using var gt = g.t();
                weightGradients[i].addmm_(gt, kept[i], beta: 0, alpha: 1);
                biasGradients[i].addmv_(gt, Ones(g.size(0), g), beta: 0, alpha: 1);
            }
            if (i == 0 && !inputGradient) return null;
            g = g.mm(layers[i].weight!);
            // kept[i] is the activation's output of layer i − 1 (its derivative is a function of that output), needed
            // no more once layer i's weight gradient is taken: the derivative is computed in its place.
            if (i > 0) g = ActivationBackward(g, kept[i]);
        }
        return g;
    }

    private void Activate(Tensor y)
    {
        switch (activation)
        {
            case Activation.Relu: y.relu_(); break;
            case Activation.LeakyRelu: y.leaky_relu_(0.2); break;
            default: y.tanh_(); break;
        }
    }

    /// <summary>
    /// dL/d pre-activation from dL/d output <paramref name="g"/> (a fresh tensor) and the output <paramref name="a"/>,
    /// both changed in place (a becomes the activation's derivative): two or three passes, no allocation.
    /// </summary>
    private Tensor ActivationBackward(Tensor g, Tensor a)
    {
        switch (activation)
        {
            case Activation.Relu:
                // relu's output is 0 or positive: its sign is the derivative torch uses (1 where output > 0).
                return g.mul_(a.sign_());
            case Activation.LeakyRelu:
                // torch: 1 where the output is > 0, the slope elsewhere: max(sign, 0) · (1 − 0.2) + 0.2.
                return g.mul_(a.sign_().clamp_min_(0).mul_(0.8).add_(0.2));
            default:
                // tanh' = 1 − tanh².
                return g.mul_(a.mul_(a).neg_().add_(1));
        }
    }

    private Tensor Ones(long rows, Tensor like)
    {
        if (ones is null || ones.size(0) != rows)
        {
            ones?.Dispose();
            ones = torch.ones(rows, dtype: like.dtype, device: like.device).DetachFromDisposeScope();
        }
        return ones;
    }

    public void Dispose()
    {
        ones?.Dispose();
        ones = null;
    }
}
