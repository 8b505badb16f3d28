using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

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
    /// <summary>Per layer, an [inputs, outputs] buffer for the weight gradient of a layer with few inputs (<see cref="WeightGradient"/>); null for the others.</summary>
    private readonly Tensor?[] narrowGradients;
    private Tensor? ones;
    private RowPass? pass;

    private enum Activation { Relu, LeakyRelu, Tanh }

    /// <summary>Whether this process uses hand-written passes where they apply (GANCLUSTER_MLP_BACKPROP=autograd: never).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable("GANCLUSTER_MLP_BACKPROP") != "autograd";

    private HandMlp(Linear[] layers, Activation activation, FlatAdam optimizer)
    {
        this.layers = layers;
        this.activation = activation;
        weightGradients = [.. layers.Select(l => optimizer.GradientBufferFor(l.weight!))];
        biasGradients = [.. layers.Select(l => optimizer.GradientBufferFor(l.bias!))];
        narrowGradients = [.. weightGradients.Select(w => w.device_type == DeviceType.CPU && w.size(1) is >= 2 and <= 8
            ? empty(w.size(1), w.size(0), dtype: w.dtype, device: w.device).DetachFromDisposeScope()
            : null)];
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
                WeightGradient(i, gt, g, kept[i]);
                biasGradients[i].addmv_(gt, Ones(g.size(0), g), beta: 0, alpha: 1);
            }
            if (i == 0 && !inputGradient) return null;
            g = g.mm(layers[i].weight!);
            // kept[i] is the activation's output of layer i − 1 (its derivative is a function of that output), needed
            // no more once layer i's weight gradient is taken: the derivative is computed in its place.
            if (i > 0) g = ActivationBackward(g, kept[i], inPlace: true);
        }
        return g;
    }

    /// <summary>A <see cref="RowPass"/> over <paramref name="rows"/> rows, made once and kept while the row count stays.</summary>
    public RowPass Pass(long rows)
    {
        if (pass is null || pass.Rows != rows)
        {
            pass?.Dispose();
            pass = new RowPass(this, rows);
        }
        return pass;
    }

    /// <summary>
    /// <see cref="Forward"/> and <see cref="Backward"/> (with parameter gradients, without the input gradient) over a
    /// fixed number of rows, taken block of rows by block of rows: each layer's input and output gradient are kept in
    /// buffers, and the parameters' gradients are taken once over all rows at the end. A row's values do not depend on
    /// the other rows (a matrix product computes each row of its result alone, and every other operation is
    /// elementwise), so the result equals one <see cref="Forward"/> and <see cref="Backward"/> over all rows bit for bit
    /// (tests), and a block can be computed before the next is known: D passes its real rows while G takes its step.
    /// Call under no_grad; the narrowed views and temporaries belong to the caller's scope.
    /// </summary>
    public sealed class RowPass : IDisposable
    {
        private readonly HandMlp mlp;
        private readonly Tensor[] inputs, outputGradients;

        internal RowPass(HandMlp mlp, long rows)
        {
            this.mlp = mlp;
            Rows = rows;
            var layers = mlp.layers;
            inputs = [.. layers.Select(l => empty(rows, l.weight!.size(1), dtype: l.weight!.dtype, device: l.weight!.device).DetachFromDisposeScope())];
            outputGradients = [.. layers.Select(l => empty(rows, l.weight!.size(0), dtype: l.weight!.dtype, device: l.weight!.device).DetachFromDisposeScope())];
            var last = layers[^1].weight!;
            Output = empty(rows, last.size(0), dtype: last.dtype, device: last.device).DetachFromDisposeScope();
        }

        public long Rows { get; }

        /// <summary>The network's output for every row passed forward so far: [rows, outputs].</summary>
        public Tensor Output { get; }

        /// <summary>The forward pass of <paramref name="x"/> as rows <paramref name="start"/>, … of the pass.</summary>
        public void Forward(Tensor x, long start)
        {
            var block = BlockOf(start, x.size(0));
            var layers = mlp.layers;
            block.Inputs[0].copy_(x);
            for (int i = 0; i < layers.Length; i++)
            {
                // What nn.functional.linear computes (addmm: the bias broadcast into the result, then the product added).
                var y = block.Outputs[i];
                y.copy_(layers[i].bias!);
                using (var wt = layers[i].weight!.t())
                    y.addmm_(block.Inputs[i], wt, beta: 1, alpha: 1);
                if (i < layers.Length - 1) mlp.Activate(y);
            }
        }

        /// <summary>
        /// The backward pass of <paramref name="gradient"/> (dL/d output of those rows) for the rows
        /// <paramref name="start"/>, … already passed forward; the layers' inputs are left as they are.
        /// </summary>
        public void Backward(Tensor gradient, long start)
        {
            var block = BlockOf(start, gradient.size(0));
            var layers = mlp.layers;
            block.Gradients[^1].copy_(gradient);
            for (int i = layers.Length - 1; i > 0; i--)
            {
                var below = block.Gradients[i - 1];
                below.addmm_(block.Gradients[i], layers[i].weight!, beta: 0, alpha: 1);
                mlp.ActivationBackward(below, block.Inputs[i], inPlace: false);
            }
        }

        /// <summary>A block of rows: views of the buffers, made once per (start, rows) and kept (a pass uses two or three).</summary>
        private sealed record Block(Tensor[] Inputs, Tensor[] Outputs, Tensor[] Gradients);

        private readonly Dictionary<(long Start, long Rows), Block> blocks = [];

        private Block BlockOf(long start, long rows)
        {
            if (start < 0 || rows < 1 || start + rows > Rows)
                throw new ArgumentOutOfRangeException(nameof(start), $"rows {start}…{start + rows - 1} are not within the pass's {Rows}");
            if (blocks.TryGetValue((start, rows), out var block)) return block;
            Tensor View(Tensor t) => t.narrow(0, start, rows).DetachFromDisposeScope();
            int count = inputs.Length;
            block = new Block(
                [.. inputs.Select(View)],
                [.. Enumerable.Range(0, count).Select(i => View(i < count - 1 ? inputs[i + 1] : Output))],
                [.. outputGradients.Select(View)]);
            blocks[(start, rows)] = block;
            return block;
        }

        /// <summary>Every weight's and bias's gradient over all rows, written (not added) into the optimizer's buffer.</summary>
        public void ParameterGradients()
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                using var gt = outputGradients[i].t();
                mlp.WeightGradient(i, gt, outputGradients[i], inputs[i]);
                mlp.biasGradients[i].addmv_(gt, mlp.Ones(Rows, gt), beta: 0, alpha: 1);
            }
        }

        public void Dispose()
        {
            foreach (var block in blocks.Values)
                foreach (var t in block.Inputs.Concat(block.Outputs).Concat(block.Gradients)) t.Dispose();
            blocks.Clear();
            foreach (var t in inputs) t.Dispose();
            foreach (var t in outputGradients) t.Dispose();
            Output.Dispose();
        }
    }

    /// <summary>
    /// Writes layer <paramref name="i"/>'s weight gradient gᵀ·x into the optimizer's buffer. MKL's product into an
    /// [outputs, inputs] result with 2 to 8 columns is slow (the first layer of an MLP on 2-D points: 28 µs for 1,024
    /// rows): such a layer's gradient is computed as xᵀ·g into an [inputs, outputs] buffer and copied across (8 µs).
    /// Each entry is the same dot product either way, and with this build's MKL the same bits (measured for 1 to 64
    /// inputs at 512 and 1,024 rows; <c>HandMlpTests</c> checks it).
    /// </summary>
    private void WeightGradient(int i, Tensor gt, Tensor g, Tensor input)
    {
        if (narrowGradients[i] is not { } narrow)
        {
            weightGradients[i].addmm_(gt, input, beta: 0, alpha: 1);
            return;
        }
        using var xt = input.t();
        narrow.addmm_(xt, g, beta: 0, alpha: 1);
        using var back = narrow.t();
        weightGradients[i].copy_(back);
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
    /// dL/d pre-activation from dL/d output <paramref name="g"/> (a fresh tensor, changed in place) and the output
    /// <paramref name="a"/>: with <paramref name="inPlace"/> a becomes the activation's derivative (no allocation),
    /// otherwise it is left alone and the derivative is a temporary.
    /// </summary>
    private Tensor ActivationBackward(Tensor g, Tensor a, bool inPlace)
    {
        switch (activation)
        {
            case Activation.Relu:
                // relu's output is 0 or positive: its sign is the derivative torch uses (1 where output > 0).
                return g.mul_(inPlace ? a.sign_() : a.sign());
            case Activation.LeakyRelu:
                // torch: 1 where the output is > 0, the slope elsewhere: max(sign, 0) · (1 − 0.2) + 0.2.
                return g.mul_((inPlace ? a.sign_() : a.sign()).clamp_min_(0).mul_(0.8).add_(0.2));
            default:
                // tanh' = 1 − tanh².
                return g.mul_((inPlace ? a.mul_(a) : a.mul(a)).neg_().add_(1));
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
        foreach (var t in narrowGradients) t?.Dispose();
        ones?.Dispose();
        ones = null;
        pass?.Dispose();
        pass = null;
    }
}
