using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Losses;
using GanCluster.Gan.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training.Packed;

/// <summary>
/// K members of one MLP architecture trained as one batched network: each network's parameters of all members live in
/// one flat [K, N] tensor, layers are batched matrix products ([K, B, in] · [K, in, out]), and one vectorised Adam step
/// with per-member learning rates and betas updates all members at once. Member k starts from exactly the weights and
/// random streams an unpacked member with its spec would have (same seeds), and follows the same schedule (k = 1,
/// d_first): its trajectory equals the unpacked one's up to floating-point rounding (batched products and reductions
/// round differently), not bit for bit.
/// <para>What it supports: unconditional MLP G and D (relu, leaky_relu, tanh), any loss without gradient penalty, Adam,
/// no minibatch discrimination, feature matching or unrolling. <see cref="Refusal"/> names what a spec asks beyond
/// that.</para>
/// </summary>
public sealed class PackedMlpGan : IDisposable
{
    private readonly GanSpec[] specs;
    private readonly PackedMlp generator;
    private readonly PackedMlp discriminator;
    private readonly PackedAdam generatorAdam;
    private readonly PackedAdam discriminatorAdam;
    private readonly IRealData[] data;
    private readonly Generator[] noiseRngs;
    private readonly Generator[] dataRngs;
    private readonly GanLoss loss;
    private readonly Device device;
    private readonly int batch;
    private readonly int noiseDim;
    private readonly bool uniformNoise;

    public PackedMlpGan(IReadOnlyList<GanSpec> members, Device? device = null)
    {
        if (members.Count == 0) throw new ArgumentException("a pack needs at least one member");
        Compute.CpuKernels.EnsureConfigured();
        foreach (var s in members)
            if (Refusal(s, members[0]) is { } why) throw new ArgumentException($"member '{s.Name}' cannot be packed: {why}");
        specs = [.. members];
        this.device = device ?? CPU;
        var first = specs[0];
        batch = first.Training.BatchSize;
        noiseDim = first.Model.NoiseDim;
        uniformNoise = first.Model.Noise == "uniform";
        loss = new GanLoss(first.Loss);
        data = [.. specs.Select(s => RealData.FromSpec(s.Data))];
        // Each member's initial weights exactly as an unpacked member builds them (same seed, same factory).
        var gNets = specs.Select((s, k) => Seeds.WithGlobalSeed(Seeds.For(s.Seed, "generator.init"), () => NetworkFactory.Generator(s, data[k]))).ToArray();
        var dNets = specs.Select((s, k) => Seeds.WithGlobalSeed(Seeds.For(s.Seed, "discriminator.init"), () => NetworkFactory.Discriminator(s, data[k]))).ToArray();
        try
        {
            generator = PackedMlp.FromModules(gNets, first.Model.Generator.Activation, this.device);
            discriminator = PackedMlp.FromModules(dNets, first.Model.Discriminator.Activation, this.device);
        }
        finally
        {
            foreach (var n in gNets) n.Dispose();
            foreach (var n in dNets) n.Dispose();
        }
        generatorAdam = new PackedAdam(generator.Flat, [.. specs.Select(s => s.Optimizer.GeneratorLr)], [.. specs.Select(s => s.Optimizer.Beta1)], [.. specs.Select(s => s.Optimizer.Beta2)]);
        discriminatorAdam = new PackedAdam(discriminator.Flat, [.. specs.Select(s => s.Optimizer.DiscriminatorLr)], [.. specs.Select(s => s.Optimizer.Beta1)], [.. specs.Select(s => s.Optimizer.Beta2)]);
        noiseRngs = [.. specs.Select(s => new Generator(Seeds.For(s.Seed, "generator.noise"), this.device))];
        dataRngs = [.. specs.Select(s => new Generator(Seeds.For(s.Seed, "discriminator.data"), this.device))];
    }

    public int Count => specs.Length;

    /// <summary>Schedule steps taken (all members step together).</summary>
    public long Step { get; private set; }

    /// <summary>Why <paramref name="spec"/> cannot train in a pack led by <paramref name="lead"/>; null when it can.</summary>
    public static string? Refusal(GanSpec spec, GanSpec lead)
    {
        if (spec.Model.Architecture != "mlp") return "only MLP networks can be packed";
        if (spec.Techniques.Conditional) return "conditional GANs cannot be packed";
        if (spec.Techniques.MinibatchDiscrimination.Kernels > 0) return "minibatch discrimination cannot be packed";
        if (spec.Techniques.FeatureMatching) return "feature matching cannot be packed";
        if (spec.Techniques.UnrolledSteps > 0) return "unrolled D steps cannot be packed";
        if (spec.Loss.Kind == "wasserstein_gp" && spec.Loss.GradientPenalty > 0) return "the gradient penalty cannot be packed";
        if (spec.Optimizer.Kind != "adam") return "only Adam can be packed";
        if (spec.Training.DStepsPerGStep != 1 || spec.Training.Order != "d_first") return "only k = 1, d_first can be packed";
        if (spec.Training.Mode != "alternating") return "only the alternating mode can be packed";
        if (spec.Training.BatchSize != lead.Training.BatchSize) return $"batch size {spec.Training.BatchSize} differs from the pack's {lead.Training.BatchSize}";
        if (spec.Model.NoiseDim != lead.Model.NoiseDim || spec.Model.Noise != lead.Model.Noise) return "noise differs from the pack's";
        if (spec.Model.Generator != lead.Model.Generator || spec.Model.Discriminator != lead.Model.Discriminator) return "architecture differs from the pack's";
        if (spec.Loss != lead.Loss) return "loss differs from the pack's";
        if (spec.Data.Kind is not ("ring" or "grid" or "gaussian1d")) return $"data '{spec.Data.Kind}' cannot be packed (mixtures only)";
        return null;
    }

    /// <summary>
    /// One schedule step of every member: D steps on a real batch and G's detached batch, then G steps through the
    /// updated D. Returns [K, 5] statistics per member: D loss, G loss, mean D(real), mean D(fake), |∇G| (the unpacked
    /// member's curve fields).
    /// </summary>
    public float[,] TrainStep()
    {
        using var scope = NewDisposeScope();
        var zD = stack(noiseRngs.Select(Noise).ToArray());
        var zG = stack(noiseRngs.Select(Noise).ToArray());
        var real = stack(data.Select((d, k) => d.SampleWithClasses(batch, dataRngs[k], device).Samples).ToArray());
        Tensor fakeD;
        using (no_grad()) fakeD = generator.Forward(zD);
        var fakeG = generator.Forward(zG);

        // Each member's loss is a mean over its batch; the mean over K batches times K is the sum of the members'
        // losses, whose gradient with respect to member k's parameters is exactly member k's own gradient.
        var realLogits = discriminator.Forward(real).squeeze(-1);
        var fakeLogits = discriminator.Forward(fakeD).squeeze(-1);
        var dLoss = loss.Discriminator(realLogits, fakeLogits) * Count;
        var dGrad = discriminator.Gradient(dLoss);
        discriminatorAdam.Step(dGrad);

        var gLogits = discriminator.Forward(fakeG).squeeze(-1);
        var gLoss = loss.Generator(gLogits) * Count;
        var gGrad = generator.Gradient(gLoss);
        generatorAdam.Step(gGrad);
        Step++;

        using var _ = no_grad();
        var perMember = stack([
            PerMember(realLogits, fakeLogits, dis: true),
            PerMember(null, gLogits, dis: false),
            sigmoid(realLogits).mean([1]),
            sigmoid(fakeLogits).mean([1]),
            gGrad.square().sum([1]).sqrt(),
        ], 1);
        var values = perMember.data<float>().ToArray();
        var result = new float[Count, 5];
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(float));
        return result;
    }

    private Tensor PerMember(Tensor? realLogits, Tensor fakeLogits, bool dis)
    {
        // The same loss, member by member (for the curve): the loss of a one-member slice.
        var rows = new Tensor[Count];
        for (int k = 0; k < Count; k++)
            rows[k] = dis ? loss.Discriminator(realLogits![k], fakeLogits[k]) : loss.Generator(fakeLogits[k]);
        return stack(rows);
    }

    private Tensor Noise(Generator rng) => uniformNoise
        ? rand([batch, noiseDim], device: device, generator: rng) * 2 - 1
        : randn([batch, noiseDim], device: device, generator: rng);

    /// <summary>Member k's generator output for a noise batch (for evaluation and tests).</summary>
    public Tensor Generate(int member, Tensor z)
    {
        using var _ = no_grad();
        return generator.ForwardOne(member, z);
    }

    /// <summary>Member k's generator and discriminator weights as unpacked Linear layers would hold them ([out, in], [out]).</summary>
    public IReadOnlyList<(Tensor Weight, Tensor Bias)> GeneratorLayers(int member) => generator.Layers(member);

    public IReadOnlyList<(Tensor Weight, Tensor Bias)> DiscriminatorLayers(int member) => discriminator.Layers(member);

    public void Dispose()
    {
        generatorAdam.Dispose();
        discriminatorAdam.Dispose();
        generator.Dispose();
        discriminator.Dispose();
        foreach (var g in noiseRngs) g.Dispose();
        foreach (var g in dataRngs) g.Dispose();
    }
}

/// <summary>
/// An MLP of K members: one leaf [K, N] holding every member's weights (stored transposed, [in, out], so a layer is
/// x · W + b) and biases, viewed per layer.
/// </summary>
internal sealed class PackedMlp : IDisposable
{
    private readonly (long Offset, long In, long Out)[] layers;
    private readonly string activation;

    private readonly Tensor[] parameters;

    private PackedMlp(Tensor flat, (long, long, long)[] layers, string activation)
    {
        Flat = flat;
        this.layers = layers;
        this.activation = activation;
        // Each layer's weight and bias are views of the flat buffer made leaves of their own: autograd gives one
        // gradient per view (cheap), and the optimizer updates the flat buffer in place, which the views share.
        parameters = new Tensor[layers.Length * 2];
        for (int i = 0; i < layers.Length; i++)
        {
            var (w, b) = View(flat, i);
            parameters[2 * i] = w.requires_grad_(true).DetachFromDisposeScope();
            parameters[2 * i + 1] = b.requires_grad_(true).DetachFromDisposeScope();
        }
    }

    /// <summary>Every member's parameters, [K, N], never requiring grad (the optimizer's buffer).</summary>
    public Tensor Flat { get; }

    /// <summary>The per-layer leaves (views of <see cref="Flat"/>) that autograd differentiates.</summary>
    public Tensor[] Parameters => parameters;

    /// <summary>The gradients of <paramref name="loss"/> with respect to every member's parameters, as one [K, N] tensor.</summary>
    public Tensor Gradient(Tensor loss)
    {
        var grads = autograd.grad([loss], parameters);
        long k = Flat.shape[0];
        return cat(grads.Select(g => g.reshape(k, -1)).ToArray(), 1);
    }

    public static PackedMlp FromModules(IReadOnlyList<nn.Module> members, string activation, Device device)
    {
        var perMember = members.Select(ForwardOrder).ToArray();
        var shape = perMember[0].Select(l => (In: l.weight!.shape[1], Out: l.weight.shape[0])).ToArray();
        if (perMember.Any(ls => ls.Length != shape.Length || ls.Select((l, i) => l.weight!.shape[1] != shape[i].In || l.weight.shape[0] != shape[i].Out).Any(b => b)))
            throw new ArgumentException("members of a pack must have the same layers");
        var offsets = new (long, long, long)[shape.Length];
        long n = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            offsets[i] = (n, shape[i].In, shape[i].Out);
            n += shape[i].In * shape[i].Out + shape[i].Out;
        }
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var rows = perMember.Select(ls => cat(ls.SelectMany(l => new[] { l.weight!.t().reshape(-1), l.bias!.reshape(-1) }).ToArray())).ToArray();
        var flat = stack(rows).to(device).contiguous().DetachFromDisposeScope();
        return new PackedMlp(flat, offsets, activation);
    }

    /// <summary>
    /// The Linear layers in the order the input meets them: MlpStack names the hidden ones linear0, linear1, … and the
    /// output layer out (G) or head (D); named_modules' order is not the forward order.
    /// </summary>
    private static TorchSharp.Modules.Linear[] ForwardOrder(nn.Module network) =>
        [.. network.named_modules()
            .Where(m => m.module is TorchSharp.Modules.Linear)
            .Select(m => (Key: LayerIndex(m.name), Layer: (TorchSharp.Modules.Linear)m.module))
            .OrderBy(m => m.Key)
            .Select(m => m.Layer)];

    private static int LayerIndex(string name)
    {
        string last = name[(name.LastIndexOf('.') + 1)..];
        if (last.StartsWith("linear", StringComparison.Ordinal) && int.TryParse(last[6..], out int i)) return i;
        if (last is "out" or "head") return int.MaxValue;
        throw new ArgumentException($"a packed network takes MlpStack layers only (found '{name}')");
    }

    private (Tensor W, Tensor B) View(Tensor flat, int layer)
    {
        var (offset, inputs, outputs) = layers[layer];
        long k = flat.shape[0];
        var w = flat.narrow(1, offset, inputs * outputs).view(k, inputs, outputs);
        var b = flat.narrow(1, offset + inputs * outputs, outputs).view(k, 1, outputs);
        return (w, b);
    }

    /// <summary>[K, B, in] → [K, B, out] through every member's own layers.</summary>
    public Tensor Forward(Tensor x) => Run(x, i => (parameters[2 * i], parameters[2 * i + 1]));

    public Tensor ForwardOne(int member, Tensor x) =>
        Run(x.unsqueeze(0), i => (parameters[2 * i].narrow(0, member, 1), parameters[2 * i + 1].narrow(0, member, 1))).squeeze(0);

    private Tensor Run(Tensor x, Func<int, (Tensor W, Tensor B)> layer)
    {
        var h = x;
        for (int i = 0; i < layers.Length; i++)
        {
            var (w, b) = layer(i);
            h = bmm(h, w).add_(b);
            if (i < layers.Length - 1) h = Activate(h);
        }
        return h;
    }

    private Tensor Activate(Tensor h) => activation switch
    {
        "relu" => nn.functional.relu(h),
        "leaky_relu" => nn.functional.leaky_relu(h, 0.2),
        "tanh" => h.tanh(),
        _ => throw new ArgumentException($"unknown activation '{activation}'"),
    };

    public IReadOnlyList<(Tensor Weight, Tensor Bias)> Layers(int member)
    {
        using var _ = no_grad();
        var one = Flat.narrow(0, member, 1);
        return [.. Enumerable.Range(0, layers.Length).Select(i =>
        {
            var (w, b) = View(one, i);
            return (w[0].t().contiguous(), b[0][0].contiguous());
        })];
    }

    public void Dispose()
    {
        foreach (var p in parameters) p.Dispose();
        Flat.Dispose();
    }
}

/// <summary>
/// Adam over a [K, N] parameter tensor with per-member learning rate and betas; the update is TorchSharp's own
/// (bias-corrected moments, denominator √v̂ + ε), so a one-member pack follows an unpacked member up to rounding.
/// </summary>
internal sealed class PackedAdam : IDisposable
{
    private const double Epsilon = 1e-8;
    private readonly Tensor parameters;
    private readonly Tensor m;
    private readonly Tensor v;
    private readonly Tensor beta1;
    private readonly Tensor beta2;
    private readonly Tensor oneMinusBeta1;
    private readonly Tensor oneMinusBeta2;
    private readonly double[] lr;
    private readonly double[] b1;
    private readonly double[] b2;
    private long steps;

    public PackedAdam(Tensor parameters, double[] learningRates, double[] beta1s, double[] beta2s)
    {
        this.parameters = parameters;
        lr = learningRates;
        b1 = beta1s;
        b2 = beta2s;
        var device = parameters.device;
        m = zeros_like(parameters).DetachFromDisposeScope();
        v = zeros_like(parameters).DetachFromDisposeScope();
        beta1 = Column(b1, device);
        beta2 = Column(b2, device);
        oneMinusBeta1 = Column([.. b1.Select(b => 1 - b)], device);
        oneMinusBeta2 = Column([.. b2.Select(b => 1 - b)], device);
    }

    private static Tensor Column(double[] values, Device device) =>
        tensor(values.Select(x => (float)x).ToArray(), [values.Length, 1], device: device).DetachFromDisposeScope();

    public void Step(Tensor gradient)
    {
        steps++;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var stepSize = new float[lr.Length];
        var sqrtBias2 = new float[lr.Length];
        for (int k = 0; k < lr.Length; k++)
        {
            stepSize[k] = (float)(lr[k] / (1 - Math.Pow(b1[k], steps)));
            sqrtBias2[k] = (float)Math.Sqrt(1 - Math.Pow(b2[k], steps));
        }
        m.mul_(beta1).addcmul_(gradient, oneMinusBeta1, 1);
        v.mul_(beta2).addcmul_(gradient, gradient * oneMinusBeta2, 1);
        var denominator = (v.sqrt() / tensor(sqrtBias2, [lr.Length, 1], device: parameters.device)).add_(Epsilon);
        parameters.sub_(m / denominator * tensor(stepSize, [lr.Length, 1], device: parameters.device));
    }

    public void Dispose()
    {
        m.Dispose();
        v.Dispose();
        beta1.Dispose();
        beta2.Dispose();
        oneMinusBeta1.Dispose();
        oneMinusBeta2.Dispose();
    }
}
