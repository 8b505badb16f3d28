using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Losses;
using GanCluster.Gan.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>What one schedule step of D yields: G's input gradient (owned by the caller) and scalar statistics.</summary>
public sealed record DiscriminatorStep(Tensor GeneratorGradient, double DLoss, double GLoss, double MeanDReal, double MeanDFake, double GradNorm);

/// <summary>D with its optimizer, the real data and their random streams: plain TorchSharp, no Orleans.</summary>
public sealed partial class DiscriminatorModel : IDisposable
{
    private readonly GanSpec spec;
    private readonly DiscriminatorNetwork network;
    private readonly FlatAdam optimizer;
    private readonly Generator dataRng;
    private readonly Generator evaluationRng;
    private readonly GanLoss loss;
    private readonly Device device;
    private readonly bool conditional;

    public DiscriminatorModel(GanSpec spec, IRealData data, Device device)
    {
        this.spec = spec;
        this.device = device;
        Data = data;
        conditional = spec.Techniques.Conditional;
        network = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "discriminator.init"), () => NetworkFactory.Discriminator(spec, data));
        network.to(device);
        optimizer = new FlatAdam(network.parameters(), spec.Optimizer.DiscriminatorLr, spec.Optimizer.Beta1, spec.Optimizer.Beta2);
        dataRng = new Generator(Seeds.For(spec.Seed, "discriminator.data"), device);
        evaluationRng = new Generator(Seeds.For(spec.Seed, "discriminator.evaluation"), device);
        loss = new GanLoss(spec.Loss);
        if (spec.Training.Mode == "exchange") shadow = new ShadowGenerator(spec, data, device);
    }

    /// <summary>The gradients of the last optimizer step, flat (for tests).</summary>
    internal float[] LastGradients() => optimizer.GradientBuffer.data<float>().ToArray();

    public IRealData Data { get; }

    /// <summary>For tests that set or inspect D's weights directly.</summary>
    internal DiscriminatorNetwork Network => network;

    /// <summary>Schedule steps taken so far (each holds k D steps).</summary>
    public long Step { get; private set; }

    /// <summary>
    /// One schedule step of D: k D steps on real batches and the given fakes, and dLoss_G/dx at
    /// <paramref name="fakeForGenerator"/> — under the updated D (order d_first) or the current one (g_first), and
    /// under a copy advanced by the unrolled steps when unrolling is on.
    /// </summary>
    public DiscriminatorStep Train(Tensor fakeForDiscriminator, Tensor? discriminatorLabels, Tensor fakeForGenerator, Tensor? generatorLabels)
    {
        // Checked before anything changes (FeedbackAfter checks again only for callers that split the step).
        if (conditional && generatorLabels is null) throw new ArgumentException("a conditional discriminator needs the labels of the fake batches");
        if (!GeneratorFirst) return FeedbackAfter(TrainSteps(fakeForDiscriminator, discriminatorLabels), fakeForGenerator, generatorLabels);
        Validate(fakeForDiscriminator, discriminatorLabels);
        using var scope = NewDisposeScope();
        var feedback = GeneratorFeedback(fakeForGenerator, generatorLabels, spec.Techniques.UnrolledSteps);
        var steps = Steps(fakeForDiscriminator, discriminatorLabels);
        Step++;
        return new DiscriminatorStep(feedback.Gradient.MoveToOuterDisposeScope(), steps.DLoss, feedback.Loss, steps.MeanDReal, steps.MeanDFake, steps.GradNorm);
    }

    /// <summary>What D's k steps of a schedule step yield (<see cref="TrainSteps"/>).</summary>
    public readonly record struct DiscriminatorSteps(double DLoss, double MeanDReal, double MeanDFake, double GradNorm);

    private bool GeneratorFirst => spec.Training.Order == "g_first";

    /// <summary>Order d_first: G's feedback comes after D's steps, so a step can be taken in parts (<see cref="TrainSteps"/>, <see cref="FeedbackAfter"/>).</summary>
    public bool FeedbackLast => !GeneratorFirst;

    /// <summary>
    /// The first part of a d_first schedule step (<see cref="Train"/> is both): D's k steps, before G's batch for the
    /// feedback is needed. <see cref="FeedbackAfter"/> must follow. A worker starts on it while G's batch is on its way.
    /// </summary>
    public DiscriminatorSteps TrainSteps(Tensor fakeForDiscriminator, Tensor? discriminatorLabels)
    {
        if (GeneratorFirst) throw new InvalidOperationException("order g_first takes G's feedback before D's steps: call Train");
        Validate(fakeForDiscriminator, discriminatorLabels);
        using var scope = NewDisposeScope();
        return Steps(fakeForDiscriminator, discriminatorLabels);
    }

    /// <summary>The second part of a d_first schedule step: G's feedback under the updated D; completes the step.</summary>
    public DiscriminatorStep FeedbackAfter(DiscriminatorSteps steps, Tensor fakeForGenerator, Tensor? generatorLabels)
    {
        if (conditional && generatorLabels is null) throw new ArgumentException("a conditional discriminator needs the labels of the fake batches");
        using var scope = NewDisposeScope();
        // D's real parameters keep only the schedule's steps; with d_first the first unrolled step is the real one.
        var feedback = GeneratorFeedback(fakeForGenerator, generatorLabels, Math.Max(0, spec.Techniques.UnrolledSteps - 1));
        Step++;
        return new DiscriminatorStep(feedback.Gradient.MoveToOuterDisposeScope(), steps.DLoss, feedback.Loss, steps.MeanDReal, steps.MeanDFake, steps.GradNorm);
    }

    /// <summary>Checks D's fakes before anything changes: a positive multiple of the batch size, labelled when conditional.</summary>
    private void Validate(Tensor fakeForDiscriminator, Tensor? discriminatorLabels)
    {
        int batch = spec.Training.BatchSize;
        long rows = fakeForDiscriminator.shape[0];
        if (rows == 0 || rows % batch != 0)
            throw new ArgumentException($"fake batch for D has {rows} rows, not a positive multiple of the batch size {batch}");
        if (conditional && discriminatorLabels is null)
            throw new ArgumentException("a conditional discriminator needs the labels of the fake batches");
    }

    /// <summary>D's k steps on fakes already checked by <see cref="Validate"/>.</summary>
    private DiscriminatorSteps Steps(Tensor fakeForDiscriminator, Tensor? discriminatorLabels)
    {
        int batch = spec.Training.BatchSize;
        int steps = (int)(fakeForDiscriminator.shape[0] / batch);
        var sums = zeros(3, device: device);
        for (int i = 0; i < steps; i++)
        {
            var fake = fakeForDiscriminator.narrow(0, i * batch, batch);
            var labels = discriminatorLabels?.narrow(0, i * batch, batch);
            sums += DiscriminatorStepOn(fake, labels) / steps;
        }
        double gradNorm = optimizer.GradientNorm();
        var stats = sums.data<float>().ToArray();
        return new DiscriminatorSteps(stats[0], stats[1], stats[2], gradNorm);
    }

    /// <summary>One optimizer step of D on a fresh real batch and the given fakes; returns [loss, mean D(real), mean D(fake)].</summary>
    private Tensor DiscriminatorStepOn(Tensor fake, Tensor? fakeLabels)
    {
        int batch = (int)fake.shape[0];
        var (real, realLabels) = Data.SampleWithClasses(batch, dataRng, device);
        network.zero_grad();
        double r1 = spec.Loss.R1;
        if (r1 > 0) real = real.detach().requires_grad_(true);
        var realLogits = network.Discriminate(real, conditional ? realLabels : null).Logits;
        var fakeLogits = network.Discriminate(fake, fakeLabels).Logits;
        var dLoss = loss.Discriminator(realLogits, fakeLogits);
        if (loss.HasGradientPenalty)
            dLoss = dLoss + loss.GradientPenaltyWeight * GradientPenalty(real, fake, conditional ? realLabels : null);
        if (r1 > 0) dLoss = dLoss + r1 / 2 * R1Penalty(real, realLogits);
        dLoss.backward();
        optimizer.Scale = spec.Optimizer.LrScale(Step, spec.Training.Steps);
        optimizer.Step();
        using var _ = no_grad();
        return stack([dLoss.detach(), sigmoid(realLogits).mean(), sigmoid(fakeLogits).mean()]);
    }

    /// <summary>
    /// WGAN-GP: (‖∇D(x̂)‖₂ − 1)² at random points x̂ on the lines between real and fake samples (Gulrajani et al. 2017).
    /// The real sample's class labels the interpolate in the conditional case. Packed (PacGAN), the points lie on the
    /// lines between real and fake m-tuples (one ε per tuple), and the norm is of the gradient at the whole tuple.
    /// </summary>
    public Tensor GradientPenalty(Tensor real, Tensor fake, Tensor? labels)
    {
        int m = spec.Techniques.Packing;
        var shape = new long[real.dim()];
        shape[0] = real.shape[0] / m;
        for (int d = 1; d < shape.Length; d++) shape[d] = 1;
        var epsilon = rand(shape, device: device, generator: dataRng);
        return GradientPenalty(real, fake, labels, m == 1 ? epsilon : epsilon.repeat_interleave(m, 0));
    }

    /// <summary><see cref="GradientPenalty(Tensor, Tensor, Tensor?)"/> at given mixing weights [B, 1, …] (tests: fixed ε).</summary>
    internal Tensor GradientPenalty(Tensor real, Tensor fake, Tensor? labels, Tensor epsilon)
    {
        var mixed = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(true);
        var scores = network.Discriminate(mixed, labels).Logits;
        // retain_graph: the penalty is differentiated again with D's loss, through this graph (TorchSharp defaults it to false).
        var gradient = autograd.grad([scores.sum()], [mixed], retain_graph: true, create_graph: true)[0];
        // The epsilon keeps the square root differentiable where a gradient vanishes.
        return ((gradient.reshape(gradient.shape[0] / spec.Techniques.Packing, -1).square().sum(1) + 1e-12).sqrt() - 1).square().mean();
    }

    /// <summary>
    /// R1 (Mescheder et al. 2018): E‖∇ₓ D(x)‖² over the real batch, from the logits of <paramref name="real"/> (which
    /// must require gradients); packed, the norm is of the gradient at the whole m-tuple. Differentiable in D's weights.
    /// </summary>
    internal Tensor R1Penalty(Tensor real, Tensor realLogits)
    {
        // retain_graph: D's loss is differentiated through the same forward afterwards.
        var gradient = autograd.grad([realLogits.sum()], [real], retain_graph: true, create_graph: true)[0];
        return gradient.reshape(gradient.shape[0] / spec.Techniques.Packing, -1).square().sum(1).mean();
    }

    /// <summary>
    /// dLoss_G/dx at G's batch, through torch.autograd.grad so that D's own parameter gradients stay untouched.
    /// Unrolled (Metz et al. 2016) with the first-order surrogate: a copy of D (weights and Adam state) takes
    /// <paramref name="surrogateSteps"/> more steps on fresh real batches and G's batch, G's loss is taken under that
    /// copy, and D is restored; the gradient does not flow back through the unrolled steps (TorchSharp's Adam is not
    /// differentiable, and back-propagating through k optimizer steps costs k times the memory).
    /// </summary>
    private (Tensor Gradient, double Loss) GeneratorFeedback(Tensor fake, Tensor? labels, int surrogateSteps)
    {
        byte[]? snapshot = null;
        if (surrogateSteps > 0)
        {
            snapshot = Snapshot();
            using var detached = fake.detach();
            for (int i = 0; i < surrogateSteps; i++)
                DiscriminatorStepOn(detached, labels).Dispose();
        }
        try
        {
            var leaf = fake.detach().requires_grad_(true);
            Tensor gLoss;
            if (spec.Techniques.FeatureMatching)
            {
                var (real, realLabels) = Data.SampleWithClasses((int)fake.shape[0], dataRng, device);
                var realFeatures = network.Discriminate(real, conditional ? realLabels : null).Features;
                gLoss = GanLoss.FeatureMatching(realFeatures, network.Discriminate(leaf, labels).Features);
            }
            else
            {
                gLoss = loss.Generator(network.Discriminate(leaf, labels).Logits);
            }
            var gradient = autograd.grad([gLoss], [leaf])[0].detach();
            return (gradient, gLoss.item<float>());
        }
        finally
        {
            if (snapshot is not null) Restore(snapshot);
        }
    }

    private byte[] Snapshot()
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            network.save(writer);
            optimizer.Save(writer);
        }
        return stream.ToArray();
    }

    private void Restore(byte[] snapshot)
    {
        using var reader = new BinaryReader(new MemoryStream(snapshot));
        network.load(reader, strict: true);
        optimizer.Load(reader);
    }

    /// <summary>Mean sigmoid(D(x)) on the given fakes and on as many real samples from the evaluation stream.</summary>
    public (double MeanDReal, double MeanDFake) Score(Tensor fake, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Packed (PacGAN): whole tuples only; an evaluation count that is not a multiple of m loses its last few.
        int m = spec.Techniques.Packing;
        int count = (int)(fake.shape[0] / m * m);
        if (count == 0) throw new ArgumentException($"D scores tuples of {m} samples (techniques.packing) and was given {fake.shape[0]}");
        if (count != fake.shape[0])
        {
            fake = fake.narrow(0, 0, count);
            labels = labels?.narrow(0, 0, count);
        }
        var (real, realLabels) = Data.SampleWithClasses(count, evaluationRng, device);
        double dReal = sigmoid(network.Discriminate(real, conditional ? realLabels : null).Logits).mean().item<float>();
        double dFake = sigmoid(network.Discriminate(fake.to(device), conditional ? labels?.to(device) : null).Logits).mean().item<float>();
        return (dReal, dFake);
    }

    public void Save(BinaryWriter writer)
    {
        NetworkState.Write(writer, "discriminator", Step, network, optimizer, dataRng, evaluationRng);
        shadow?.Save(writer);
    }

    public void Load(BinaryReader reader)
    {
        Step = NetworkState.Read(reader, "discriminator", network, optimizer, dataRng, evaluationRng);
        shadow?.Load(reader);
        // The loaded state carries the hyperparameters it was saved with (a PBT donor's): this member's own apply.
        optimizer.SetHyperparameters(spec.Optimizer.DiscriminatorLr, spec.Optimizer.Beta1, spec.Optimizer.Beta2);
    }

    internal (double LearningRate, double Beta1, double Beta2) OptimizerHyperparameters => (optimizer.LearningRate, optimizer.Beta1, optimizer.Beta2);

    public byte[] WeightBytes() => NetworkState.WeightBytes(network);

    public void Dispose()
    {
        shadow?.Dispose();
        optimizer.Dispose();
        network.Dispose();
        dataRng.Dispose();
        evaluationRng.Dispose();
    }
}
