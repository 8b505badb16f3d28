using GanCluster.Contracts.Specs;
using GanCluster.Grains.Gan.Data;
using GanCluster.Grains.Gan.Losses;
using GanCluster.Grains.Gan.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Grains.Gan.Training;

/// <summary>What one schedule step of D yields: G's input gradient (owned by the caller) and scalar statistics.</summary>
public sealed record DiscriminatorStep(Tensor GeneratorGradient, double DLoss, double GLoss, double MeanDReal, double MeanDFake, double GradNorm);

/// <summary>D with its optimizer, the real data and their random streams: plain TorchSharp, no Orleans.</summary>
public sealed class DiscriminatorModel : IDisposable
{
    private readonly GanSpec spec;
    private readonly MlpDiscriminator network;
    private readonly optim.Optimizer optimizer;
    private readonly Generator dataRng;
    private readonly Generator evaluationRng;
    private readonly GanLoss loss;
    private readonly Device device;
    // clip_grad_norm_ with a bound no gradient reaches: it reports the norm and scales by exactly 1.
    private const double GradNormOnly = 1e30;

    public DiscriminatorModel(GanSpec spec, MixtureDataset data, Device device)
    {
        this.spec = spec;
        this.device = device;
        Data = data;
        network = Seeds.WithGlobalSeed(Seeds.For(spec.Seed, "discriminator.init"),
            () => new MlpDiscriminator(data.Dimension, spec.Model.Discriminator));
        network.to(device);
        optimizer = optim.Adam(network.parameters(), spec.Optimizer.DiscriminatorLr, spec.Optimizer.Beta1, spec.Optimizer.Beta2);
        dataRng = new Generator(Seeds.For(spec.Seed, "discriminator.data"), device);
        evaluationRng = new Generator(Seeds.For(spec.Seed, "discriminator.evaluation"), device);
        loss = new GanLoss(spec.Loss);
    }

    public MixtureDataset Data { get; }

    /// <summary>Schedule steps taken so far (each holds k D steps).</summary>
    public long Step { get; private set; }

    /// <summary>
    /// k D steps on real batches and the given fakes, then dLoss_G/dx at <paramref name="fakeForGenerator"/> under the
    /// updated D, through torch.autograd.grad so that D's own parameter gradients stay untouched.
    /// </summary>
    public DiscriminatorStep Train(Tensor fakeForDiscriminator, Tensor fakeForGenerator)
    {
        int batch = spec.Training.BatchSize;
        long rows = fakeForDiscriminator.shape[0];
        if (rows == 0 || rows % batch != 0)
            throw new ArgumentException($"fake batch for D has {rows} rows, not a positive multiple of the batch size {batch}");
        int steps = (int)(rows / batch);
        using var scope = NewDisposeScope();
        var sums = zeros(4, device: device);
        for (int i = 0; i < steps; i++)
        {
            var real = Data.Sample(batch, dataRng, device);
            var fake = fakeForDiscriminator.narrow(0, i * batch, batch);
            optimizer.zero_grad();
            var realLogits = network.forward(real);
            var fakeLogits = network.forward(fake);
            var dLoss = loss.Discriminator(realLogits, fakeLogits);
            dLoss.backward();
            optimizer.step();
            using (no_grad())
                sums += stack([dLoss.detach(), sigmoid(realLogits).mean(), sigmoid(fakeLogits).mean(), zeros_like(dLoss)]) / steps;
        }
        double gradNorm = nn.utils.clip_grad_norm_(network.parameters(), GradNormOnly);

        var leaf = fakeForGenerator.detach().requires_grad_(true);
        var gLoss = loss.Generator(network.forward(leaf));
        var gradient = autograd.grad([gLoss], [leaf])[0];
        var stats = (sums + stack([zeros_like(gLoss), zeros_like(gLoss), zeros_like(gLoss), gLoss.detach()])).data<float>().ToArray();
        Step++;
        return new DiscriminatorStep(gradient.detach().MoveToOuterDisposeScope(), stats[0], stats[3], stats[1], stats[2], gradNorm);
    }

    /// <summary>Mean D(x) on the given fakes and on as many real samples from the evaluation stream.</summary>
    public (double MeanDReal, double MeanDFake) Score(Tensor fake)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var real = Data.Sample((int)fake.shape[0], evaluationRng, device);
        double dReal = sigmoid(network.forward(real)).mean().item<float>();
        double dFake = sigmoid(network.forward(fake.to(device))).mean().item<float>();
        return (dReal, dFake);
    }

    public void Save(BinaryWriter writer) => NetworkState.Write(writer, "discriminator", Step, network, optimizer, dataRng, evaluationRng);

    public void Load(BinaryReader reader) => Step = NetworkState.Read(reader, "discriminator", network, optimizer, dataRng, evaluationRng);

    public byte[] WeightBytes() => NetworkState.WeightBytes(network);

    public void Dispose()
    {
        optimizer.Dispose();
        network.Dispose();
        dataRng.Dispose();
        evaluationRng.Dispose();
    }
}
