using GanCluster.Gan.Data;
using GanCluster.Gan.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public class MixtureTests
{
    [Fact]
    public void Ring_modes_are_evenly_spaced_on_the_circle_and_none_repeats()
    {
        var ring = MixtureDataset.Ring(8, 1.0, 0.01);
        Assert.Equal(8, ring.ModeCount);
        for (int i = 0; i < 8; i++)
        {
            var a = ring.ModeCenters[i];
            var b = ring.ModeCenters[(i + 1) % 8];
            Assert.Equal(1.0, Math.Sqrt(a[0] * a[0] + a[1] * a[1]), 5);
            // Neighbours are 2·sin(π/8) apart; linspace(0, 2π, 8) would put the last mode on the first.
            Assert.Equal(2 * Math.Sin(Math.PI / 8), Math.Sqrt(Math.Pow(a[0] - b[0], 2) + Math.Pow(a[1] - b[1], 2)), 5);
        }
    }

    [Fact]
    public void Grid_of_25_has_its_means_on_minus4_to_4_in_steps_of_2()
    {
        var grid = MixtureDataset.Grid(5, 2.0, 0.05);
        var expected = new[] { -4f, -2f, 0f, 2f, 4f };
        var centers = grid.ModeCenters.Select(c => (c[0], c[1])).ToHashSet();
        Assert.Equal(25, centers.Count);
        foreach (var x in expected)
            foreach (var y in expected)
                Assert.Contains((x, y), centers);
    }

    [Fact]
    public void Sampling_is_reproducible_by_seed_and_follows_the_modes()
    {
        var ring = MixtureDataset.Ring(8, 1.0, 0.01);
        using var g1 = new torch.Generator(42);
        using var g2 = new torch.Generator(42);
        using var a = ring.Sample(4000, g1, CPU);
        using var b = ring.Sample(4000, g2, CPU);
        Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());
        var rows = ToRows(a);
        var metrics = MixtureEvaluation.Evaluate(ring, rows, 20);
        Assert.Equal(8, metrics.ModesCovered);
        Assert.True(metrics.HighQualityFraction > 0.99, $"high quality {metrics.HighQualityFraction}");
        Assert.True(metrics.ReverseKl < 0.01, $"reverse KL {metrics.ReverseKl}");
    }

    [Fact]
    public void A_collapsed_generator_covers_one_mode_with_reverse_kl_log_k()
    {
        var ring = MixtureDataset.Ring(8, 1.0, 0.01);
        var collapsed = Enumerable.Range(0, 1000).Select(_ => new[] { 1f, 0f }).ToArray();
        var metrics = MixtureEvaluation.Evaluate(ring, collapsed, 20);
        Assert.Equal(1, metrics.ModesCovered);
        Assert.Equal(1.0, metrics.HighQualityFraction);
        Assert.Equal(Math.Log(8), metrics.ReverseKl, 9);
    }

    [Fact]
    public void Samples_far_from_every_mode_are_not_high_quality_and_NaN_samples_count_for_nothing()
    {
        var ring = MixtureDataset.Ring(8, 1.0, 0.01);
        var samples = new[] { new[] { 0f, 0f }, new[] { float.NaN, 0f }, new[] { 1.02f, 0f }, new[] { 1.04f, 0f } };
        var metrics = MixtureEvaluation.Evaluate(ring, samples, 1);
        Assert.Equal(0.25, metrics.HighQualityFraction); // only (1.02, 0) is within 3 std = 0.03
        Assert.Equal(1, metrics.ModesCovered);
    }

    [Fact]
    public void VEEGANs_rule_counts_a_mode_with_one_high_quality_sample_ours_needs_the_minimum()
    {
        var ring = MixtureDataset.Ring(8, 1.0, 0.01);
        // 30 high-quality samples at mode 0, 5 at mode 2 (the point (0, 1)), 10 low-quality ones near mode 4.
        var samples = Enumerable.Repeat(new[] { 1f, 0f }, 30)
            .Concat(Enumerable.Repeat(new[] { 0f, 1.01f }, 5))
            .Concat(Enumerable.Repeat(new[] { -1.2f, 0f }, 10)).ToArray();
        var metrics = MixtureEvaluation.Evaluate(ring, samples, 20);
        Assert.Equal(1, metrics.ModesCovered);
        Assert.Equal(2, metrics.ModesWithAnyHighQuality);
    }

    internal static float[][] ToRows(Tensor t)
    {
        var flat = t.data<float>().ToArray();
        int cols = (int)t.shape[1];
        return Enumerable.Range(0, (int)t.shape[0]).Select(r => flat.AsSpan(r * cols, cols).ToArray()).ToArray();
    }
}
