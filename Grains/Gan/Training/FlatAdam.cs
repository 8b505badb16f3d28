using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>
/// Adam (Kingma &amp; Ba 2015, as <c>torch.optim.Adam</c> computes it, no weight decay, no AMSGrad) over one flat buffer
/// per network: the gradients are gathered into one tensor and the moments live in one, so a step is about twenty
/// operators whatever the number of parameter tensors, where TorchSharp's Adam runs nine per tensor (a small GAN's
/// step is mostly per-operator cost: BENCHMARKS.md). <see cref="GradientNorm"/> reads the gradients' 2-norm from the
/// same buffer. The parameters themselves are moved into one flat tensor too (each becomes a view of it, in place:
/// the module's references stay valid), so that the update is one operator; build the optimizer after the network
/// is on its device, and load weights in place (as <c>Module.load</c> does).
/// Parameters without a gradient are left alone, as torch's Adam leaves them; its per-parameter step counts are kept.
/// </summary>
public sealed class FlatAdam : IDisposable
{
    private const string Magic = "GANCLUSTER-FLAT-ADAM-1";
    private const double Epsilon = 1e-8;
    private readonly Tensor[] parameters;
    private readonly long[] offsets;
    private readonly Tensor values, gradient, expAvg, expAvgSq, denominator;
    private Scalar? beta1, oneMinusBeta1, beta2, oneMinusBeta2;
    private readonly Scalar epsilon = Epsilon;
    private readonly Tensor[] gradientViews, expAvgViews, expAvgSqViews, denominatorViews;
    private readonly long[] steps;

    public FlatAdam(IEnumerable<Tensor> parameters, double learningRate, double beta1, double beta2)
    {
        this.parameters = [.. parameters];
        if (this.parameters.Length == 0) throw new ArgumentException("Adam needs at least one parameter");
        offsets = new long[this.parameters.Length + 1];
        for (int i = 0; i < this.parameters.Length; i++) offsets[i + 1] = offsets[i] + this.parameters[i].numel();
        var device = this.parameters[0].device;
        var dtype = this.parameters[0].dtype;
        if (this.parameters.Any(p => p.device_type != device.type || p.dtype != dtype))
            throw new ArgumentException("FlatAdam needs every parameter on one device with one dtype");
        values = zeros(offsets[^1], dtype: dtype, device: device).DetachFromDisposeScope();
        using (no_grad())
        {
            for (int i = 0; i < this.parameters.Length; i++)
            {
                using var slice = values.narrow(0, offsets[i], offsets[i + 1] - offsets[i]);
                using var view = slice.view(this.parameters[i].shape);
                view.copy_(this.parameters[i]);
                this.parameters[i].set_(view);
            }
        }
        gradient = zeros(offsets[^1], dtype: dtype, device: device).DetachFromDisposeScope();
        expAvg = zeros(offsets[^1], dtype: dtype, device: device).DetachFromDisposeScope();
        expAvgSq = zeros(offsets[^1], dtype: dtype, device: device).DetachFromDisposeScope();
        denominator = zeros(offsets[^1], dtype: dtype, device: device).DetachFromDisposeScope();
        gradientViews = Views(gradient);
        expAvgViews = Views(expAvg);
        expAvgSqViews = Views(expAvgSq);
        denominatorViews = Views(denominator);
        steps = new long[this.parameters.Length];
        SetHyperparameters(learningRate, beta1, beta2);
    }

    public double LearningRate { get; private set; }
    /// <summary>A factor on <see cref="LearningRate"/> for the next steps (a schedule's; not saved: it follows the step).</summary>
    public double Scale { get; set; } = 1;
    public double Beta1 { get; private set; }
    public double Beta2 { get; private set; }

    public void SetHyperparameters(double learningRate, double beta1, double beta2)
    {
        if (!(learningRate > 0) || !(beta1 is >= 0 and < 1) || !(beta2 is >= 0 and < 1))
            throw new ArgumentException($"Adam needs lr > 0 and betas in [0, 1), got lr {learningRate}, betas ({beta1}, {beta2})");
        (LearningRate, Beta1, Beta2) = (learningRate, beta1, beta2);
        foreach (var old in new[] { this.beta1, oneMinusBeta1, this.beta2, oneMinusBeta2 }) old?.Dispose();
        (this.beta1, oneMinusBeta1, this.beta2, oneMinusBeta2) = (beta1, 1 - beta1, beta2, 1 - beta2);
    }

    private Tensor[] Views(Tensor flat) => [.. parameters.Select((p, i) =>
    {
        using var slice = flat.narrow(0, offsets[i], offsets[i + 1] - offsets[i]);
        return slice.view(p.shape).DetachFromDisposeScope();
    })];

    /// <summary>One Adam step on the parameters' current gradients.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var has = new bool[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            if (parameters[i].grad is { } g) { gradientViews[i].copy_(g); has[i] = true; }
            else gradientViews[i].zero_();
        }
        Apply(has);
    }

    /// <summary>The gradients the last step took, flat (for tests).</summary>
    internal Tensor GradientBuffer => gradient;

    private void Apply(bool[] has)
    {
        if (has.All(h => h) && steps.All(s => s == steps[0]))
        {
            for (int i = 0; i < steps.Length; i++) steps[i]++;
            Update(expAvg, expAvgSq, denominator, gradient, steps[0]);
            using Scalar stepSize = StepSize(steps[0]);
            values.addcdiv_(expAvg, denominator, value: stepSize);
        }
        else
        {
            // A parameter without a gradient (or step counts that differ since one): step the others one by one.
            for (int i = 0; i < parameters.Length; i++)
            {
                if (!has[i]) continue;
                steps[i]++;
                Update(expAvgViews[i], expAvgSqViews[i], denominatorViews[i], gradientViews[i], steps[i]);
                AddUpdate(i, steps[i]);
            }
        }
    }

    /// <summary>The 2-norm of the gradients the last <see cref="Step"/> took (0 before the first).</summary>
    public double GradientNorm()
    {
        using var norm = gradient.norm();
        return norm.item<float>();
    }

    /// <summary>m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², denominator ← √v / √(1 − β₂ᵗ) + ε.</summary>
    private void Update(Tensor m, Tensor v, Tensor denom, Tensor g, long t)
    {
        using Scalar sqrtBias2 = Math.Sqrt(1 - Math.Pow(Beta2, t));
        m.mul_(beta1!).add_(g, alpha: oneMinusBeta1!);
        v.mul_(beta2!).addcmul_(g, g, value: oneMinusBeta2!);
        denom.copy_(v).sqrt_().div_(sqrtBias2).add_(epsilon);
    }

    /// <summary>θ ← θ − lr / (1 − β₁ᵗ) · m / denominator, the factor of the division.</summary>
    private double StepSize(long t) => -(LearningRate * Scale / (1 - Math.Pow(Beta1, t)));

    private void AddUpdate(int i, long t)
    {
        using Scalar stepSize = StepSize(t);
        parameters[i].addcdiv_(expAvgViews[i], denominatorViews[i], value: stepSize);
    }

    /// <summary>The exact state: hyperparameters, step counts and both moments.</summary>
    public void Save(BinaryWriter writer)
    {
        writer.Write(Magic);
        writer.Write(LearningRate);
        writer.Write(Beta1);
        writer.Write(Beta2);
        writer.Write(steps.Length);
        foreach (long s in steps) writer.Write(s);
        foreach (var moment in new[] { expAvg, expAvgSq })
        {
            using var cpu = moment.cpu();
            var bytes = cpu.bytes;
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
    }

    public void Load(BinaryReader reader)
    {
        string magic = reader.ReadString();
        if (magic != Magic) throw new InvalidDataException($"not a GanCluster optimizer state (header '{(magic.Length > 40 ? magic[..40] + "…" : magic)}')");
        double lr = reader.ReadDouble(), b1 = reader.ReadDouble(), b2 = reader.ReadDouble();
        int count = reader.ReadInt32();
        if (count != steps.Length) throw new InvalidDataException($"optimizer state holds {count} parameters, the network has {steps.Length}");
        var stored = new long[count];
        for (int i = 0; i < count; i++) stored[i] = reader.ReadInt64();
        var moments = new byte[2][];
        for (int k = 0; k < 2; k++)
        {
            int length = reader.ReadInt32();
            moments[k] = reader.ReadBytes(length);
            if (moments[k].Length != length || length != expAvg.numel() * expAvg.element_size())
                throw new InvalidDataException($"optimizer state holds a moment of {moments[k].Length} bytes, the network needs {expAvg.numel() * expAvg.element_size()}");
        }
        using (no_grad())
        {
            foreach (var (moment, bytes) in new[] { expAvg, expAvgSq }.Zip(moments))
            {
                using var cpu = zeros(moment.shape, dtype: moment.dtype);
                cpu.bytes = bytes;
                moment.copy_(cpu);
            }
        }
        stored.CopyTo(steps, 0);
        SetHyperparameters(lr, b1, b2);
    }

    public void Dispose()
    {
        foreach (var t in gradientViews.Concat(expAvgViews).Concat(expAvgSqViews).Concat(denominatorViews)) t.Dispose();
        foreach (var scalar in new[] { beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon }) scalar?.Dispose();
        // The parameters keep the flat storage alive for as long as the network lives.
        values.Dispose();
        gradient.Dispose();
        expAvg.Dispose();
        expAvgSq.Dispose();
        denominator.Dispose();
    }
}
