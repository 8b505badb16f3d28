using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>G's samples for one schedule step: k·B detached for D, and B whose graph G keeps; labels when conditional.</summary>
public sealed record GeneratedBatch(Tensor ForDiscriminator, Tensor? DiscriminatorLabels, Tensor ForGenerator, Tensor? GeneratorLabels) : IDisposable
{
    public void Dispose()
    {
        ForDiscriminator.Dispose();
        DiscriminatorLabels?.Dispose();
        ForGenerator.Dispose();
        GeneratorLabels?.Dispose();
    }
}

/// <summary>
/// G with its optimizer and random streams: plain TorchSharp, no Orleans, used by the generator worker and by the
/// single-process reference loop alike (so that the two can be compared bit for bit).
/// </summary>
public sealed partial class GeneratorModel : IDisposable
{
    private readonly GanSpec spec;
    private readonly GeneratorNetwork network;
    /// <summary>techniques.generatorEma: the moving average of G's weights, which evaluation samples from; null when off.</summary>
    private readonly GeneratorNetwork? ema;
    private readonly FlatAdam optimizer;
    private readonly Generator noiseRng;
    private readonly Generator evaluationRng;
    private readonly Device device;
    private readonly int classCount;
    private Tensor? pendingFake;
    // The noise RNG's state before the pending batch was drawn: a batch not yet consumed by ApplyGradient does not
    // count as drawn, so sampling again or saving rewinds to here (a worker may sample the next step ahead of time).
    private Tensor? noiseStateBeforePending;
    // Between SampleForDiscriminator and SampleForGenerator.
    private bool halfSampled;

    public GeneratorModel(GanSpec spec, IRealData data, Device device)
    {
        this.spec = spec;
        this.device = device;
        classCount = spec.Techniques.Conditional ? data.ClassCount : 0;
        network = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "generator.init"), () => NetworkFactory.Generator(spec, data));
        network.to(device);
        optimizer = new FlatAdam(network.parameters(), spec.Optimizer.GeneratorLr, spec.Optimizer.Beta1, spec.Optimizer.Beta2);
        noiseRng = new Generator(Seeds.For(spec.Seed, "generator.noise"), device);
        evaluationRng = new Generator(Seeds.For(spec.Seed, "generator.evaluation"), device);
        if (spec.Training.Mode == "exchange") shadow = new ShadowDiscriminator(spec, data, device);
        if (spec.Techniques.GeneratorEma > 0)
        {
            // The same initial weights as G (same seed): the average starts where G starts.
            ema = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "generator.init"), () => NetworkFactory.Generator(spec, data));
            ema.to(device);
            foreach (var p in ema.parameters()) p.requires_grad_(false);
        }
    }

    /// <summary>The gradients of the last optimizer step, flat (for tests).</summary>
    internal float[] LastGradients() => optimizer.GradientBuffer.data<float>().ToArray();

    /// <summary>G steps taken so far.</summary>
    public long Step { get; private set; }

    public bool HasPendingBatch => pendingFake is not null;

    /// <summary>For tests and the FLOP count of the benchmark.</summary>
    internal GeneratorNetwork Network => network;

    public bool IsConditional => classCount > 0;

    private Tensor Noise(int count, Generator rng) => NoiseSampler.Sample(spec.Model, count, device, rng);

    private Tensor? Labels(int count, Generator rng) =>
        classCount == 0 ? null : randint(classCount, [count], dtype: ScalarType.Int64, device: device, generator: rng);

    /// <summary>
    /// Samples k·batch detached fakes for D's steps and one batch whose graph is kept until <see cref="ApplyGradient"/>.
    /// Everything returned is detached; the caller owns it.
    /// </summary>
    public GeneratedBatch Sample(int discriminatorSteps)
    {
        var (forD, labelsD) = SampleForDiscriminator(discriminatorSteps);
        try
        {
            var (forG, labelsG) = SampleForGenerator();
            return new GeneratedBatch(forD, labelsD, forG, labelsG);
        }
        catch
        {
            forD.Dispose();
            labelsD?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The first part of <see cref="Sample"/>, which <see cref="SampleForGenerator"/> completes: the k·batch detached
    /// fakes for D's steps (and their classes). A worker sends them before it computes the second part, which D needs
    /// only after its own steps. The caller owns what is returned.
    /// </summary>
    public (Tensor Samples, Tensor? Labels) SampleForDiscriminator(int discriminatorSteps)
    {
        int batch = spec.Training.BatchSize;
        DropPendingBatch();
        if (noiseStateBeforePending is null) noiseStateBeforePending = noiseRng.get_state().DetachFromDisposeScope();
        else noiseRng.set_state(noiseStateBeforePending);
        using var scope = NewDisposeScope();
        Tensor forD;
        var noiseD = Noise(discriminatorSteps * batch, noiseRng);
        var labelsD = Labels(discriminatorSteps * batch, noiseRng);
        using (no_grad())
            forD = network.Generate(noiseD, labelsD);
        halfSampled = true;
        return (forD.MoveToOuterDisposeScope(), labelsD?.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The second part of <see cref="Sample"/>, right after <see cref="SampleForDiscriminator"/>: the batch whose graph
    /// G keeps until <see cref="ApplyGradient"/>, detached, and its classes.
    /// </summary>
    public (Tensor Samples, Tensor? Labels) SampleForGenerator()
    {
        if (!halfSampled) throw new InvalidOperationException("SampleForGenerator without SampleForDiscriminator just before");
        halfSampled = false;
        int batch = spec.Training.BatchSize;
        using var scope = NewDisposeScope();
        var noiseG = Noise(batch, noiseRng);
        var labelsG = Labels(batch, noiseRng);
        var fake = network.Generate(noiseG, labelsG);
        pendingFake = fake.DetachFromDisposeScope();
        return (fake.detach().MoveToOuterDisposeScope(), labelsG?.MoveToOuterDisposeScope());
    }

    /// <summary>Back-propagates dLoss_G/dx (from D) through the kept batch's graph and steps; returns G's gradient norm.</summary>
    public double ApplyGradient(Tensor gradient)
    {
        var fake = pendingFake ?? throw new InvalidOperationException("ApplyGradient without a sampled batch");
        using var scope = NewDisposeScope();
        try
        {
            if (!gradient.shape.SequenceEqual(fake.shape))
                throw new ArgumentException($"gradient shape [{string.Join(", ", gradient.shape)}] does not match the batch [{string.Join(", ", fake.shape)}]");
            network.zero_grad();
            fake.backward([gradient]);
            optimizer.Scale = spec.Optimizer.LrScale(Step, spec.Training.Steps);
            optimizer.Step();
            double norm = optimizer.GradientNorm();
            UpdateAverage();
            Step++;
            return norm;
        }
        finally
        {
            DropPendingBatch();
            DropRewindState();
        }
    }

    /// <summary>techniques.generatorEma: ema ← d·ema + (1 − d)·w for every parameter; buffers (batch-norm statistics) copied.</summary>
    private void UpdateAverage()
    {
        if (ema is null) return;
        using var _ = no_grad();
        double decay = spec.Techniques.GeneratorEma;
        foreach (var (average, current) in ema.parameters().Zip(network.parameters()))
            average.mul_(decay).add_(current, alpha: 1 - decay);
        foreach (var (average, current) in ema.buffers().Zip(network.buffers()))
            average.copy_(current);
    }

    /// <summary>The network evaluation samples from: the weights' moving average when techniques.generatorEma is on.</summary>
    private GeneratorNetwork EvaluationNetwork => ema ?? network;

    /// <summary>The network that samples (the moving average when techniques.generatorEma is on): what export writes.</summary>
    public GeneratorNetwork SamplingNetwork => EvaluationNetwork;

    private void DropPendingBatch()
    {
        halfSampled = false;
        pendingFake?.Dispose();
        pendingFake = null;
    }

    private void DropRewindState()
    {
        noiseStateBeforePending?.Dispose();
        noiseStateBeforePending = null;
    }

    /// <summary>Evaluation samples; conditional models cycle through the classes (sample i has class i mod K).</summary>
    public (Tensor Samples, Tensor? Labels) SampleForEvaluation(int count)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var labels = classCount == 0 ? null : arange(count, dtype: ScalarType.Int64, device: device) % classCount;
        var samples = EvaluationNetwork.Generate(Noise(count, evaluationRng), labels);
        return (samples.MoveToOuterDisposeScope(), labels?.MoveToOuterDisposeScope());
    }

    /// <summary>Writes the exact state; a batch sampled ahead and not yet applied is not part of it (its draw is undone).</summary>
    public void Save(BinaryWriter writer)
    {
        if (noiseStateBeforePending is null)
        {
            NetworkState.Write(writer, "generator", Step, network, optimizer, noiseRng, evaluationRng);
        }
        else
        {
            using var current = noiseRng.get_state();
            noiseRng.set_state(noiseStateBeforePending);
            try { NetworkState.Write(writer, "generator", Step, network, optimizer, noiseRng, evaluationRng); }
            finally { noiseRng.set_state(current); }
        }
        shadow?.Save(writer);
        ema?.save(writer);
    }

    public void Load(BinaryReader reader)
    {
        DropPendingBatch();
        DropRewindState();
        Step = NetworkState.Read(reader, "generator", network, optimizer, noiseRng, evaluationRng);
        shadow?.Load(reader);
        ema?.load(reader, strict: true);
        // The loaded state carries the hyperparameters it was saved with (a PBT donor's): this member's own apply.
        optimizer.SetHyperparameters(spec.Optimizer.GeneratorLr, spec.Optimizer.Beta1, spec.Optimizer.Beta2);
    }

    /// <summary>The optimizer's learning rate and betas as they stand (for tests of PBT exploits).</summary>
    internal (double LearningRate, double Beta1, double Beta2) OptimizerHyperparameters => (optimizer.LearningRate, optimizer.Beta1, optimizer.Beta2);

    public byte[] WeightBytes() => NetworkState.WeightBytes(network);

    /// <summary>The moving average's weights (techniques.generatorEma), empty when off (for tests).</summary>
    internal byte[] AverageWeightBytes() => ema is null ? [] : NetworkState.WeightBytes(ema);

    /// <summary>G's first parameter and its moving average's, flat (for tests).</summary>
    internal (float[] Weights, float[] Average) FirstParameter() =>
        (network.parameters().First().data<float>().ToArray(), ema?.parameters().First().data<float>().ToArray() ?? []);

    public void Dispose()
    {
        DropPendingBatch();
        shadow?.Dispose();
        ema?.Dispose();
        DropRewindState();
        optimizer.Dispose();
        network.Dispose();
        noiseRng.Dispose();
        evaluationRng.Dispose();
    }
}
