using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Gan.Training.Packed;
using GanCluster.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public class PackedMlpGanTests
{
    private static GanSpec Member(int index) => TestSpecs.SmallRing(seed: 11 + index) with
    {
        Name = $"packed-{index}",
        Optimizer = new OptimizerSpec { GeneratorLr = 1e-3 * (index + 1), DiscriminatorLr = 5e-4 * (index + 1), Beta1 = 0.5 + 0.1 * index, Beta2 = 0.999 },
    };

    [Fact]
    public void Each_packed_member_follows_its_unpacked_twin_up_to_rounding()
    {
        var specs = Enumerable.Range(0, 3).Select(Member).ToArray();
        const int steps = 12;
        using var pack = new PackedMlpGan(specs);
        for (int i = 0; i < steps; i++) pack.TrainStep();

        for (int k = 0; k < specs.Length; k++)
        {
            using var twin = new ReferenceLoop(specs[k]);
            twin.Run(steps);
            AssertSameLayers(Linears(twin.Generator.Network), pack.GeneratorLayers(k), $"member {k} generator");
            AssertSameLayers(Linears(twin.Discriminator.Network), pack.DiscriminatorLayers(k), $"member {k} discriminator");
        }
    }

    [Fact]
    public void Members_with_different_hyperparameters_move_apart_and_statistics_are_per_member()
    {
        var same = Member(0);
        using var pack = new PackedMlpGan([same, same with { Optimizer = same.Optimizer with { GeneratorLr = 1e-2 } }]);
        float[,] stats = new float[0, 0];
        for (int i = 0; i < 5; i++) stats = pack.TrainStep();

        // Same seed and D learning rate: D's first step is identical; G's learning rate differs, so G moves apart.
        var g0 = pack.GeneratorLayers(0)[0].Weight;
        var g1 = pack.GeneratorLayers(1)[0].Weight;
        Assert.False(allclose(g0, g1, rtol: 0, atol: 1e-6));
        Assert.Equal(2, stats.GetLength(0));
        Assert.Equal(5, stats.GetLength(1));
        for (int k = 0; k < 2; k++)
        {
            Assert.InRange(stats[k, 2], 0f, 1f); // mean D(real)
            Assert.InRange(stats[k, 3], 0f, 1f); // mean D(fake)
            Assert.True(float.IsFinite(stats[k, 0]) && float.IsFinite(stats[k, 1]) && stats[k, 4] > 0);
        }
    }

    [Fact]
    public void A_spec_that_cannot_be_packed_is_refused_with_the_reason()
    {
        var lead = Member(0);
        var conditional = lead with { Name = "cond", Techniques = new TechniquesSpec { Conditional = true } };
        var otherBatch = lead with { Name = "b64", Training = lead.Training with { BatchSize = 64 } };
        var error = Assert.Throws<ArgumentException>(() => new PackedMlpGan([lead, conditional]));
        Assert.Contains("'cond'", error.Message);
        Assert.Contains("conditional", error.Message);
        error = Assert.Throws<ArgumentException>(() => new PackedMlpGan([lead, otherBatch]));
        Assert.Contains("batch size 64 differs from the pack's 128", error.Message);
        Assert.Throws<ArgumentException>(() => new PackedMlpGan([]));
    }

    /// <summary>(weight, bias) of every Linear layer in forward order: linear0, linear1, …, then out/head.</summary>
    private static List<(Tensor Weight, Tensor Bias)> Linears(nn.Module network) =>
        [.. network.named_modules()
            .Where(m => m.module is TorchSharp.Modules.Linear)
            .OrderBy(m => m.name.EndsWith("out", StringComparison.Ordinal) || m.name.EndsWith("head", StringComparison.Ordinal) ? 1 : 0)
            .ThenBy(m => m.name, StringComparer.Ordinal)
            .Select(m => (((TorchSharp.Modules.Linear)m.module).weight!.detach(), ((TorchSharp.Modules.Linear)m.module).bias!.detach()))];

    private static void AssertSameLayers(IReadOnlyList<(Tensor Weight, Tensor Bias)> expected, IReadOnlyList<(Tensor Weight, Tensor Bias)> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Weight.shape, actual[i].Weight.shape);
            double wDiff = (expected[i].Weight - actual[i].Weight).abs().max().item<float>();
            double bDiff = (expected[i].Bias - actual[i].Bias).abs().max().item<float>();
            // Twelve Adam steps of at most ~lr each move weights by ~1e-2; rounding differences stay orders below.
            Assert.True(wDiff < 2e-5 && bDiff < 2e-5, $"{what} layer {i}: weights differ by {wDiff:G3}, biases by {bDiff:G3}");
        }
    }
}
