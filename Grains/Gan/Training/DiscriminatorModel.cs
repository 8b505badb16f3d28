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

    private readonly HandMlp? hand;
    private Tensor? targets, probabilities;
    /// <summary>The data stream's state before the real batch of a prepared step was drawn (<see cref="PrepareNextStep"/>).</summary>
    private Tensor? preparedFrom;

    public DiscriminatorModel(GanSpec spec, IRealData data, Device device) : this(spec, data, device, handBackprop: true) { }

    /// <param name="handBackprop">false: autograd even where <see cref="HandMlp"/> applies (tests compare the two).</param>
    internal DiscriminatorModel(GanSpec spec, IRealData data, Device device, bool handBackprop)
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
        // The gradient penalty differentiates D's input gradient again: that needs autograd's graph.
        if (network is MlpDiscriminator mlp && !loss.HasGradientPenalty) hand = HandMlp.For(mlp.Stack, optimizer, handBackprop);
        if (spec.Training.Mode == "exchange") shadow = new ShadowGenerator(spec, data, device);
    }

    /// <summary>Whether D's steps and G's feedback run through <see cref="HandMlp"/> (for tests and the benchmark's header).</summary>
    internal bool UsesHandBackprop => hand is not null;

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
            sums += DiscriminatorStepOn(fake, labels, prepared: i == 0) / steps;
        }
        double gradNorm = optimizer.GradientNorm();
        var stats = sums.data<float>().ToArray();
        return new DiscriminatorSteps(stats[0], stats[1], stats[2], gradNorm);
    }

    /// <summary>
    /// One optimizer step of D on a fresh real batch and the given fakes; returns [loss, mean D(real), mean D(fake)].
    /// With <paramref name="prepared"/> the real rows may be the ones <see cref="PrepareNextStep"/> drew and passed.
    /// </summary>
    private Tensor DiscriminatorStepOn(Tensor fake, Tensor? fakeLabels, bool prepared = false)
    {
        int batch = (int)fake.shape[0];
        if (hand is not null && prepared && preparedFrom is not null && batch == spec.Training.BatchSize)
        {
            preparedFrom.Dispose();
            preparedFrom = null;
            Interlocked.Increment(ref preparedSteps);
            return HandDiscriminatorStep(hand, null, null, fake, fakeLabels, batch);
        }
        var (real, realLabels) = Data.SampleWithClasses(batch, dataRng, device);
        if (hand is not null) return HandDiscriminatorStep(hand, real, conditional ? realLabels : null, fake, fakeLabels, batch);
        network.zero_grad();
        var realLogits = network.Discriminate(real, conditional ? realLabels : null).Logits;
        var fakeLogits = network.Discriminate(fake, fakeLabels).Logits;
        var dLoss = loss.Discriminator(realLogits, fakeLogits);
        if (loss.HasGradientPenalty)
            dLoss = dLoss + loss.GradientPenaltyWeight * GradientPenalty(real, fake, conditional ? realLabels : null);
        dLoss.backward();
        optimizer.Step();
        using var _ = no_grad();
        return stack([dLoss.detach(), sigmoid(realLogits).mean(), sigmoid(fakeLogits).mean()]);
    }

    /// <summary>
    /// <see cref="DiscriminatorStepOn"/> through <see cref="HandMlp"/>: one pass over real and fake rows together (D scores
    /// each sample alone), the loss's gradient with respect to the logits from autograd on those logits only, and the
    /// parameters' gradients by hand into the optimizer's buffer. With no <paramref name="real"/> batch, the real rows
    /// are already in D's <see cref="HandMlp.RowPass"/> (<see cref="PrepareNextStep"/>) and only the fake rows are passed
    /// now; the pass in blocks gives the same numbers as the one pass, with more operator calls, so it is used only there.
    /// </summary>
    private Tensor HandDiscriminatorStep(HandMlp mlp, Tensor? real, Tensor? realLabels, Tensor fake, Tensor? fakeLabels, int batch)
    {
        var d = (MlpDiscriminator)network;
        using var _ = no_grad();
        if (real is null)
        {
            // The real rows are in the pass already: the fake rows, then the parameters' gradients over all rows.
            var pass = mlp.Pass(2L * batch);
            HandRows(pass, d.Input(fake, fakeLabels), batch, batch);
            var passValue = GanLoss.StandardValue(pass.Output.squeeze(-1), Targets(batch));
            pass.ParameterGradients();
            optimizer.StepOnGradientBuffer();
            return cat([passValue.view(1), Probabilities(batch).view(2, batch).mean([1])]);
        }
        var kept = new List<Tensor>();
        var logits = mlp.Forward(cat([d.Input(real, realLabels), d.Input(fake, fakeLabels)]), kept).squeeze(-1);
        // The standard loss in closed form (σ(logits) shared by its gradient and the statistics); any other through
        // autograd on the logits alone.
        var probabilities = sigmoid(logits);
        var (value, gradient) = loss.HasClosedForm
            ? (GanLoss.StandardValue(logits, Targets(batch)), GanLoss.StandardGradient(probabilities, Targets(batch), batch))
            : LossAndGradient(logits, l => loss.Discriminator(l.narrow(0, 0, batch), l.narrow(0, batch, batch)));
        mlp.Backward(kept, gradient.unsqueeze(-1), parameterGradients: true, inputGradient: false);
        optimizer.StepOnGradientBuffer();
        return cat([value.view(1), probabilities.view(2, batch).mean([1])]);
    }

    /// <summary>The standard loss's rows from <paramref name="start"/> through D: forward, σ, the loss's gradient (σ − target) / B, backward.</summary>
    private void HandRows(HandMlp.RowPass pass, Tensor input, long start, int batch)
    {
        long n = input.size(0);
        pass.Forward(input, start);
        var probabilities = Probabilities(batch).narrow(0, start, n);
        probabilities.copy_(pass.Output.narrow(0, start, n).squeeze(-1)).sigmoid_();
        var gradient = GanLoss.StandardGradient(probabilities, Targets(batch).narrow(0, start, n), batch);
        pass.Backward(gradient.unsqueeze(-1), start);
    }

    /// <summary>σ(logits) of the pass's 2B rows (statistics and the standard loss's gradient), made once per batch size.</summary>
    private Tensor Probabilities(int batch)
    {
        if (probabilities is null || probabilities.size(0) != 2L * batch)
        {
            probabilities?.Dispose();
            probabilities = empty(2L * batch, device: device).DetachFromDisposeScope();
        }
        return probabilities;
    }

    /// <summary>
    /// Draws the real batch of D's next schedule step and passes it through D now, when D would otherwise wait: a
    /// discriminator whose generator is on another silo calls it while G takes its step. The next <see cref="Train"/>
    /// passes only the fake rows. The result is the same bit for bit (the rows of a pass do not depend on each other,
    /// <see cref="HandMlp.RowPass"/>; the data stream is drawn in the same order), so a prepared step changes nothing
    /// but when the work is done. Only for D steps through <see cref="HandMlp"/> with the standard loss and order
    /// d_first (g_first's feedback can draw from the data stream first); false when it does nothing.
    /// <see cref="Save"/> puts the data stream back (the step is then computed whole), <see cref="Load"/> drops it.
    /// </summary>
    public bool PrepareNextStep()
    {
        if (preparedFrom is not null || hand is null || !loss.HasClosedForm || spec.Training.Order == "g_first") return false;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int batch = spec.Training.BatchSize;
        var from = dataRng.get_state();
        var (real, realLabels) = Data.SampleWithClasses(batch, dataRng, device);
        HandRows(hand.Pass(2L * batch), ((MlpDiscriminator)network).Input(real, conditional ? realLabels : null), 0, batch);
        preparedFrom = from.DetachFromDisposeScope();
        return true;
    }

    /// <summary>Whether D's next step has its real rows passed already (tests).</summary>
    internal bool Prepared => preparedFrom is not null;

    private static long preparedSteps;

    /// <summary>Steps of any D in this process that used real rows passed ahead (tests).</summary>
    internal static long PreparedSteps => Interlocked.Read(ref preparedSteps);

    /// <summary>Forgets a prepared step; with <paramref name="rewind"/> the data stream goes back to before its draw.</summary>
    private void Unprepare(bool rewind)
    {
        if (preparedFrom is null) return;
        if (rewind) dataRng.set_state(preparedFrom);
        preparedFrom.Dispose();
        preparedFrom = null;
    }

    /// <summary>The standard loss's labels of one pass over real and fake rows, made once per batch size.</summary>
    private Tensor Targets(int batch)
    {
        if (targets is null || targets.size(0) != 2L * batch)
        {
            targets?.Dispose();
            targets = loss.DiscriminatorTargets(batch, device).DetachFromDisposeScope();
        }
        return targets;
    }

    /// <summary>A loss of the logits and its gradient with respect to them (autograd on this small graph only).</summary>
    private static (Tensor Loss, Tensor Gradient) LossAndGradient(Tensor logits, Func<Tensor, Tensor> lossOf)
    {
        using var __ = enable_grad();
        var leaf = logits.detach().requires_grad_(true);
        var value = lossOf(leaf);
        var gradient = autograd.grad([value], [leaf])[0];
        return (value.detach(), gradient);
    }

    /// <summary>G's feedback through <see cref="HandMlp"/>: D's input gradient only, no parameter gradients.</summary>
    private (Tensor Gradient, double Loss) HandGeneratorFeedback(HandMlp mlp, Tensor fake, Tensor? labels)
    {
        var d = (MlpDiscriminator)network;
        using var _ = no_grad();
        var kept = new List<Tensor>();
        var logits = mlp.Forward(d.Input(fake, labels), kept).squeeze(-1);
        var (gLoss, gradient) = loss.HasClosedForm ? loss.StandardGenerator(logits, sigmoid(logits)) : LossAndGradient(logits, loss.Generator);
        var input = mlp.Backward(kept, gradient.unsqueeze(-1), parameterGradients: false, inputGradient: true)!;
        // A conditional D's input is the sample followed by the one-hot class: G's gradient is the sample's part.
        if (input.size(1) != fake.size(1)) input = input.narrow(1, 0, fake.size(1));
        return (input.contiguous(), gLoss.item<float>());
    }

    /// <summary>
    /// WGAN-GP: (‖∇D(x̂)‖₂ − 1)² at random points x̂ on the lines between real and fake samples (Gulrajani et al. 2017).
    /// The real sample's class labels the interpolate in the conditional case.
    /// </summary>
    public Tensor GradientPenalty(Tensor real, Tensor fake, Tensor? labels)
    {
        var shape = new long[real.dim()];
        shape[0] = real.shape[0];
        for (int d = 1; d < shape.Length; d++) shape[d] = 1;
        return GradientPenalty(real, fake, labels, rand(shape, device: device, generator: dataRng));
    }

    /// <summary><see cref="GradientPenalty(Tensor, Tensor, Tensor?)"/> at given mixing weights [B, 1, …] (tests: fixed ε).</summary>
    internal Tensor GradientPenalty(Tensor real, Tensor fake, Tensor? labels, Tensor epsilon)
    {
        var mixed = (epsilon * real.detach() + (1 - epsilon) * fake.detach()).requires_grad_(true);
        var scores = network.Discriminate(mixed, labels).Logits;
        // retain_graph: the penalty is differentiated again with D's loss, through this graph (TorchSharp defaults it to false).
        var gradient = autograd.grad([scores.sum()], [mixed], retain_graph: true, create_graph: true)[0];
        // The epsilon keeps the square root differentiable where a gradient vanishes.
        return ((gradient.flatten(1).square().sum(1) + 1e-12).sqrt() - 1).square().mean();
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
            if (hand is not null && !spec.Techniques.FeatureMatching) return HandGeneratorFeedback(hand, fake, labels);
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
        var (real, realLabels) = Data.SampleWithClasses((int)fake.shape[0], evaluationRng, device);
        double dReal = sigmoid(network.Discriminate(real, conditional ? realLabels : null).Logits).mean().item<float>();
        double dFake = sigmoid(network.Discriminate(fake.to(device), conditional ? labels?.to(device) : null).Logits).mean().item<float>();
        return (dReal, dFake);
    }

    public void Save(BinaryWriter writer)
    {
        Unprepare(rewind: true);
        NetworkState.Write(writer, "discriminator", Step, network, optimizer, dataRng, evaluationRng);
        shadow?.Save(writer);
    }

    public void Load(BinaryReader reader)
    {
        Unprepare(rewind: false);
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
        hand?.Dispose();
        targets?.Dispose();
        probabilities?.Dispose();
        preparedFrom?.Dispose();
        optimizer.Dispose();
        network.Dispose();
        dataRng.Dispose();
        evaluationRng.Dispose();
    }
}
