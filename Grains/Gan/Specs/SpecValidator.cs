using System.Globalization;
using System.Text.RegularExpressions;

namespace GanCluster.Gan.Specs;

/// <summary>A spec that cannot be trained, with every problem found (each names its field and the allowed values).</summary>
public sealed class SpecException : ArgumentException
{
    public SpecException(IReadOnlyList<string> problems) : base("invalid spec:\n  " + string.Join("\n  ", problems)) =>
        Problems = [.. problems];

    /// <summary>Each problem, naming its field (crosses grain boundaries with the exception).</summary>
    public string[] Problems { get; private set; }
}

/// <summary>Range and consistency checks on a typed spec; the JSON-level checks live in <see cref="SpecLoader"/>.</summary>
public static partial class SpecValidator
{
    public static readonly string[] DataKinds = ["ring", "grid", "gaussian1d", "digits", "idx"];
    public static readonly string[] Architectures = ["mlp", "dcgan", "lapgan"];
    public static readonly string[] Normalizations = ["batch", "layer", "none"];
    public static readonly string[] LrDecays = ["none", "linear"];

    public static bool IsImageData(string? kind) => kind is "digits" or "idx";
    public static readonly string[] NoiseKinds = ["normal", "uniform"];
    public static readonly string[] Activations = ["relu", "leaky_relu", "tanh"];
    public static readonly string[] GeneratorLosses = ["non_saturating", "minimax"];
    public static readonly string[] Optimizers = ["adam"];
    public static readonly string[] LossKinds = ["standard", "hinge", "least_squares", "wasserstein_gp"];
    public static readonly string[] Orders = ["d_first", "g_first"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^(auto|cpu|cuda|cuda:[0-9]{1,2})$")]
    private static partial Regex DevicePattern();

    public static void ThrowIfInvalid(GanSpec spec)
    {
        var problems = Validate(spec);
        if (problems.Count > 0) throw new SpecException(problems);
    }

    public static List<string> Validate(GanSpec spec)
    {
        var p = new List<string>();
        if (!NamePattern().IsMatch(spec.Name ?? ""))
            p.Add($"name: must be 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit, got '{spec.Name}'");
        Range(p, "seed", spec.Seed, 0, long.MaxValue);
        if (!DevicePattern().IsMatch(spec.Device ?? "")) p.Add($"device: must be one of auto, cpu, cuda, cuda:N, got '{spec.Device}'");

        var d = spec.Data;
        if (d is null) p.Add("data: is required");
        else
        {
            OneOf(p, "data.kind", d.Kind, DataKinds);
            Positive(p, "data.std", d.Std, 1e6);
            switch (d.Kind)
            {
                case "ring":
                    Range(p, "data.modes", d.Modes, 1, 10_000);
                    Positive(p, "data.radius", d.Radius, 1e6);
                    break;
                case "grid":
                    Range(p, "data.size", d.Size, 1, 100);
                    Positive(p, "data.spacing", d.Spacing, 1e6);
                    break;
                case "gaussian1d":
                    if (!double.IsFinite(d.Mean) || Math.Abs(d.Mean) > 1e6) p.Add($"data.mean: must be a finite number within ±1e6, got {Show(d.Mean)}");
                    break;
                case "idx":
                    if (string.IsNullOrWhiteSpace(d.Images)) p.Add("data.images: is required for data.kind idx (a *-images-idx3-ubyte[.gz] file)");
                    if (string.IsNullOrWhiteSpace(d.Labels)) p.Add("data.labels: is required for data.kind idx (a *-labels-idx1-ubyte[.gz] file)");
                    break;
            }
            if (d.Kind != "idx" && (d.Images is not null || d.Labels is not null))
                p.Add($"data.images/labels: only data.kind idx reads files, not {d.Kind}");
        }

        var m = spec.Model;
        if (m is null) p.Add("model: is required");
        else
        {
            Range(p, "model.noiseDim", m.NoiseDim, 1, 4096);
            OneOf(p, "model.noise", m.Noise, NoiseKinds);
            Range(p, "model.noiseCategories", m.NoiseCategories, 0, 4096);
            OneOf(p, "model.architecture", m.Architecture, Architectures);
            if (d is not null && DataKinds.Contains(d.Kind) && Architectures.Contains(m.Architecture) && IsImageData(d.Kind) != (m.Architecture != "mlp"))
                p.Add(IsImageData(d.Kind)
                    ? $"model.architecture: images (data.kind {d.Kind}) need dcgan or lapgan, got {m.Architecture}"
                    : $"model.architecture: {m.Architecture} generates 28×28 images; mixtures (data.kind {d.Kind}) need mlp");
            if (m.Discriminator is { } dn)
            {
                if (dn.Normalization is not null) OneOf(p, "model.discriminator.normalization", dn.Normalization, Normalizations);
                if (dn.NormalizationFor(m.Architecture, discriminator: true) == "batch" && spec.Loss?.Kind == "wasserstein_gp")
                    p.Add("model.discriminator.normalization: batch cannot be used with loss.kind wasserstein_gp (batch norm makes each score depend on the batch, which the gradient penalty assumes it does not); use layer or none");
            }
            if (m.Generator is { Normalization: { } gn })
            {
                OneOf(p, "model.generator.normalization", gn, Normalizations);
                if (m.Architecture != "mlp") p.Add($"model.generator.normalization: applies to mlp generators (the {m.Architecture} generator has its own batch norm)");
            }
            if (!(m.InitStd >= 0 && m.InitStd <= 1)) p.Add($"model.initStd: must be 0 (the library's default) or a standard deviation up to 1, got {Show(m.InitStd)}");
            else if (m.InitStd > 0 && m.Architecture != "mlp") p.Add($"model.initStd: applies to mlp networks (the {m.Architecture} networks start from N(0, 0.02))");
            Network(p, "model.generator", m.Generator);
            Network(p, "model.discriminator", m.Discriminator);
        }

        var l = spec.Loss;
        if (l is null) p.Add("loss: is required");
        else
        {
            OneOf(p, "loss.kind", l.Kind, LossKinds);
            OneOf(p, "loss.generator", l.Generator, GeneratorLosses);
            HalfOpen(p, "loss.realSmoothing", l.RealSmoothing, 0, 0.5);
            HalfOpen(p, "loss.fakeSmoothing", l.FakeSmoothing, 0, 0.5);
            if (!(l.GradientPenalty >= 0 && l.GradientPenalty <= 1e6)) p.Add($"loss.gradientPenalty: must be between 0 and 1e6, got {Show(l.GradientPenalty)}");
            if (!(l.R1 >= 0 && l.R1 <= 1e6)) p.Add($"loss.r1: must be between 0 (off) and 1e6, got {Show(l.R1)}");
            if (l.Kind != "standard" && (l.RealSmoothing != 0 || l.FakeSmoothing != 0))
                p.Add($"loss.realSmoothing/fakeSmoothing: label smoothing applies to loss.kind standard only, not {l.Kind}");
        }

        var q = spec.Techniques;
        if (q is null) p.Add("techniques: is required");
        else
        {
            var mb = q.MinibatchDiscrimination;
            if (mb is null) p.Add("techniques.minibatchDiscrimination: is required");
            else
            {
                Range(p, "techniques.minibatchDiscrimination.kernels", mb.Kernels, 0, 1024);
                Range(p, "techniques.minibatchDiscrimination.kernelDim", mb.KernelDim, 1, 1024);
                if (mb.Kernels > 0 && l?.Kind == "wasserstein_gp")
                    p.Add("techniques.minibatchDiscrimination: cannot be combined with loss.kind wasserstein_gp (the gradient penalty assumes D scores each sample on its own)");
            }
            Range(p, "techniques.unrolledSteps", q.UnrolledSteps, 0, 50);
            Range(p, "techniques.packing", q.Packing, 1, 16);
            if (!(q.GeneratorEma == 0 || q.GeneratorEma > 0 && q.GeneratorEma < 1))
                p.Add($"techniques.generatorEma: must be 0 (off) or a decay between 0 and 1 (exclusive), e.g. 0.999, got {Show(q.GeneratorEma)}");
            if (q.Packing > 1 && spec.Training is { } training && training.BatchSize % q.Packing != 0)
                p.Add($"training.batchSize: must be a multiple of techniques.packing ({q.Packing}: D scores tuples of that many samples), got {training.BatchSize}");
        }

        var o = spec.Optimizer;
        if (o is null) p.Add("optimizer: is required");
        else
        {
            OneOf(p, "optimizer.kind", o.Kind, Optimizers);
            Positive(p, "optimizer.generatorLr", o.GeneratorLr, 1);
            Positive(p, "optimizer.discriminatorLr", o.DiscriminatorLr, 1);
            HalfOpen(p, "optimizer.beta1", o.Beta1, 0, 1);
            HalfOpen(p, "optimizer.beta2", o.Beta2, 0, 1);
            OneOf(p, "optimizer.lrDecay", o.LrDecay, LrDecays);
            HalfOpen(p, "optimizer.lrDecayStart", o.LrDecayStart, 0, 1);
        }

        var t = spec.Training;
        if (t is null) p.Add("training: is required");
        else
        {
            Range(p, "training.steps", t.Steps, 1, 1_000_000_000);
            Range(p, "training.batchSize", t.BatchSize, 1, 65536);
            Range(p, "training.dStepsPerGStep", t.DStepsPerGStep, 1, 100);
            Range(p, "training.logEvery", t.LogEvery, 1, 1_000_000);
            OneOf(p, "training.order", t.Order, Orders);
            Positive(p, "training.maxLoss", t.MaxLoss, 1e30);
            if (t.BatchSize >= 1 && t.DStepsPerGStep >= 1 && (long)t.BatchSize * t.DStepsPerGStep > 1_048_576)
                p.Add($"training: batchSize × dStepsPerGStep must be at most 1048576 samples per step, got {(long)t.BatchSize * t.DStepsPerGStep}");
        }

        var e = spec.Evaluation;
        if (e is null) p.Add("evaluation: is required");
        else
        {
            Range(p, "evaluation.every", e.Every, 1, 1_000_000_000);
            Range(p, "evaluation.samples", e.Samples, 1, 1_000_000);
            Range(p, "evaluation.minSamplesPerMode", e.MinSamplesPerMode, 1, 1_000_000);
            if (e.Samples >= 1 && e.MinSamplesPerMode > e.Samples)
                p.Add($"evaluation.minSamplesPerMode: must not exceed evaluation.samples ({e.Samples}), got {e.MinSamplesPerMode}");
        }

        if (spec.Search is { } search) SweepPlanner.ValidateSearch(search, p);
        MessageLimits.Check(spec, p);

        var c = spec.Checkpoint;
        if (c is null) p.Add("checkpoint: is required");
        else
        {
            Range(p, "checkpoint.every", c.Every, 1, 1_000_000_000);
            Range(p, "checkpoint.keep", c.Keep, 1, 100);
        }
        Exchange(p, spec);
        return p;
    }

    private static void Network(List<string> p, string path, NetworkSpec? n)
    {
        if (n is null) { p.Add($"{path}: is required"); return; }
        Range(p, $"{path}.width", n.Width, 1, 65536);
        Range(p, $"{path}.depth", n.Depth, 0, 64);
        OneOf(p, $"{path}.activation", n.Activation, Activations);
        if (n.Maxout != 0) Range(p, $"{path}.maxout", n.Maxout, 2, 16);
    }

    private static void Range(List<string> p, string path, long value, long min, long max)
    {
        if (value < min || value > max) p.Add($"{path}: must be between {min} and {max}, got {value}");
    }

    private static void Positive(List<string> p, string path, double value, double max)
    {
        if (!(value > 0 && value <= max)) p.Add($"{path}: must be greater than 0 and at most {Show(max)}, got {Show(value)}");
    }

    private static void HalfOpen(List<string> p, string path, double value, double min, double maxExclusive)
    {
        if (!(value >= min && value < maxExclusive)) p.Add($"{path}: must be in [{Show(min)}, {Show(maxExclusive)}), got {Show(value)}");
    }

    private static void OneOf(List<string> p, string path, string? value, string[] allowed)
    {
        if (value is null || !allowed.Contains(value)) p.Add($"{path}: must be one of {string.Join(", ", allowed)}, got '{value}'");
    }

    private static string Show(double v) => v.ToString("G", CultureInfo.InvariantCulture);
}
