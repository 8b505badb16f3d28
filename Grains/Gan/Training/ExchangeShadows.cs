using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>
/// Parameter-exchange mode (DESIGN.md): each worker keeps a shadow copy of the other network and trains against it;
/// the coordinator swaps weights every N steps. A shadow is built with the other network's initialisation seed, so
/// both copies start identical and no exchange is needed at step 0; it never has an optimizer of its own. Its weights
/// (and the discriminator side's noise stream) belong to the worker's checkpoint, so that a member resumed between
/// two exchanges ends exactly as an uninterrupted one.
/// </summary>
internal abstract class Shadow<TNetwork>(TNetwork network, string role) : IDisposable where TNetwork : nn.Module
{
    private const string Magic = "GANCLUSTER-SHADOW-1";

    protected TNetwork Network { get; } = Freeze(network);

    private static TNetwork Freeze(TNetwork module)
    {
        // The shadow is never stepped: gradients flow through it to its input only.
        foreach (var parameter in module.parameters()) parameter.requires_grad_(false);
        return module;
    }

    /// <summary>The other worker's weights (<c>Module.save</c> bytes) become this shadow.</summary>
    public void Import(byte[] weights)
    {
        using var reader = new BinaryReader(new MemoryStream(weights));
        Network.load(reader, strict: true);
    }

    public virtual void Save(BinaryWriter writer)
    {
        writer.Write(Magic);
        writer.Write(role);
        Network.save(writer);
    }

    public virtual void Load(BinaryReader reader)
    {
        string magic = reader.ReadString();
        if (magic != Magic) throw new InvalidDataException($"worker state holds no shadow {role} (header '{magic}'): not written in training.mode exchange");
        string stored = reader.ReadString();
        if (stored != role) throw new InvalidDataException($"worker state holds a shadow {stored}, not a shadow {role}");
        Network.load(reader, strict: true);
    }

    /// <summary>The shadow's weights as <c>Module.save</c> bytes (for tests of the exchange).</summary>
    public byte[] WeightBytes() => NetworkState.WeightBytes(Network);

    public virtual void Dispose() => Network.Dispose();
}

/// <summary>The generator worker's copy of D: G's loss and its gradient are computed against it locally.</summary>
internal sealed class ShadowDiscriminator(GanSpec spec, IRealData data, Device device)
    : Shadow<DiscriminatorNetwork>(Build(spec, data, device), "discriminator")
{
    private static DiscriminatorNetwork Build(GanSpec spec, IRealData data, Device device)
    {
        var network = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "discriminator.init"), () => NetworkFactory.Discriminator(spec, data));
        network.to(device);
        return network;
    }

    public Tensor Logits(Tensor samples, Tensor? labels) => Network.Discriminate(samples, labels).Logits;
}

/// <summary>The discriminator worker's copy of G, with a noise stream of its own for the fakes it makes.</summary>
internal sealed class ShadowGenerator : Shadow<GeneratorNetwork>
{
    private readonly GanSpec spec;
    private readonly Device device;
    private readonly int classCount;
    private readonly Generator noiseRng;

    public ShadowGenerator(GanSpec spec, IRealData data, Device device) : base(Build(spec, data, device), "generator")
    {
        this.spec = spec;
        this.device = device;
        classCount = spec.Techniques.Conditional ? data.ClassCount : 0;
        noiseRng = new Generator(Seeds.For(spec.Seed, "exchange.shadow-generator.noise"), device);
    }

    private static GeneratorNetwork Build(GanSpec spec, IRealData data, Device device)
    {
        var network = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "generator.init"), () => NetworkFactory.Generator(spec, data));
        network.to(device);
        return network;
    }

    /// <summary>Detached fakes (and their classes when conditional) from the shadow G.</summary>
    public (Tensor Samples, Tensor? Labels) Generate(int count)
    {
        using var _ = no_grad();
        var noise = NoiseSampler.Sample(spec.Model, count, device, noiseRng);
        var labels = classCount == 0 ? null : randint(classCount, [count], dtype: ScalarType.Int64, device: device, generator: noiseRng);
        return (Network.Generate(noise, labels), labels);
    }

    public override void Save(BinaryWriter writer)
    {
        base.Save(writer);
        using var state = noiseRng.get_state();
        var bytes = state.data<byte>().ToArray();
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    public override void Load(BinaryReader reader)
    {
        base.Load(reader);
        int length = reader.ReadInt32();
        var bytes = reader.ReadBytes(length);
        if (bytes.Length != length) throw new InvalidDataException("worker state is truncated inside the shadow generator's RNG state");
        using var state = tensor(bytes, dtype: ScalarType.Byte);
        noiseRng.set_state(state);
    }

    public override void Dispose()
    {
        base.Dispose();
        noiseRng.Dispose();
    }
}

public sealed partial class GeneratorModel
{
    private readonly ShadowDiscriminator? shadow;

    /// <summary>
    /// Exchange mode: one G step against the shadow D — fresh noise from G's own stream, G's loss under the shadow,
    /// back-propagated through the (frozen) shadow into G. Returns G's loss and gradient norm.
    /// </summary>
    public (double Loss, double GradNorm) StepAgainstShadow()
    {
        var against = shadow ?? throw new InvalidOperationException("this generator was not built for training.mode exchange");
        DropPendingBatch();
        using var scope = NewDisposeScope();
        int batch = spec.Training.BatchSize;
        var noise = Noise(batch, noiseRng);
        var labels = Labels(batch, noiseRng);
        network.zero_grad();
        var gLoss = ShadowLoss.Generator(against.Logits(network.Generate(noise, labels), labels));
        gLoss.backward();
        optimizer.Scale = spec.Optimizer.LrScale(Step, spec.Training.Steps);
        optimizer.Step();
        double norm = optimizer.GradientNorm();
        Step++;
        return (gLoss.item<float>(), norm);
    }

    /// <summary>Exchange mode: the shadow D's weights, null in alternating mode (for tests).</summary>
    internal byte[]? ShadowWeightBytes() => shadow?.WeightBytes();

    /// <summary>Exchange mode: D's weights become the shadow D.</summary>
    public void ImportShadow(byte[] weights) =>
        (shadow ?? throw new InvalidOperationException("this generator was not built for training.mode exchange")).Import(weights);

    private Losses.GanLoss ShadowLoss => field ??= new Losses.GanLoss(spec.Loss);
}

public sealed partial class DiscriminatorModel
{
    private readonly ShadowGenerator? shadow;

    /// <summary>
    /// Exchange mode: one schedule step of D — k D steps, each on a fresh real batch and a fake batch made by the
    /// shadow G. Returns D's loss and mean D(x) on real and fake samples (means over the k steps) and its gradient norm.
    /// </summary>
    public (double Loss, double MeanDReal, double MeanDFake, double GradNorm) StepAgainstShadow()
    {
        var against = shadow ?? throw new InvalidOperationException("this discriminator was not built for training.mode exchange");
        int steps = spec.Training.DStepsPerGStep;
        using var scope = NewDisposeScope();
        var sums = zeros(3, device: device);
        for (int i = 0; i < steps; i++)
        {
            var (fake, labels) = against.Generate(spec.Training.BatchSize);
            sums += DiscriminatorStepOn(fake, labels) / steps;
        }
        double gradNorm = optimizer.GradientNorm();
        var stats = sums.data<float>().ToArray();
        Step++;
        return (stats[0], stats[1], stats[2], gradNorm);
    }

    /// <summary>Exchange mode: the shadow G's weights, null in alternating mode (for tests).</summary>
    internal byte[]? ShadowWeightBytes() => shadow?.WeightBytes();

    /// <summary>Exchange mode: G's weights become the shadow G.</summary>
    public void ImportShadow(byte[] weights) =>
        (shadow ?? throw new InvalidOperationException("this discriminator was not built for training.mode exchange")).Import(weights);
}
