using GanCluster.Gan.Networks;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>The networks of PacGAN's setup as spec options: batch-norm MLP G, maxout D, N(0, σ) initialization.</summary>
public class ReferenceNetworkTests
{
    /// <summary>PacGAN's synthetic setup, small: G with batch norm and no hidden biases, D of maxout layers, N(0, 0.02).</summary>
    private static GanSpec PacGanLike(int packing = 1)
    {
        var s = TestSpecs.SmallRing(steps: 10);
        return s with
        {
            Model = s.Model with
            {
                InitStd = 0.02,
                Generator = new NetworkSpec { Width = 32, Depth = 3, Normalization = "batch" },
                Discriminator = new NetworkSpec { Width = 16, Depth = 2, Maxout = 5 },
            },
            Optimizer = s.Optimizer with { GeneratorLr = 1e-4, DiscriminatorLr = 1e-4, Beta1 = 0.8 },
            Techniques = s.Techniques with { Packing = packing },
        };
    }

    [Fact]
    public void A_batch_norm_MLP_generator_has_no_hidden_biases_and_normalizes_each_hidden_layer()
    {
        using var g = new MlpGenerator(2, 2, new NetworkSpec { Width = 8, Depth = 3, Normalization = "batch" });
        var modules = g.modules().ToList();
        Assert.Equal(3, modules.OfType<BatchNorm1d>().Count());
        var linears = modules.OfType<Linear>().ToList();
        Assert.Equal(4, linears.Count);
        Assert.All(linears.Where(l => l.weight!.shape[0] == 8), l => Assert.Null(l.bias));
        Assert.NotNull(linears.Single(l => l.weight!.shape[0] == 2).bias); // the output layer keeps its bias
    }

    [Fact]
    public void A_maxout_layer_takes_the_largest_of_its_pieces()
    {
        using var scope = NewDisposeScope();
        using var d = new MlpDiscriminator(2, new NetworkSpec { Width = 3, Depth = 1, Maxout = 4 });
        var first = d.modules().OfType<Linear>().Single(l => l.weight!.shape[1] == 2);
        Assert.Equal([12L, 2L], first.weight!.shape);
        var x = randn(5, 2);
        var pieces = nn.functional.linear(x, first.weight, first.bias).view(5, 3, 4);
        var (_, features) = d.Discriminate(x, null);
        Assert.Equal(pieces.amax([-1]).data<float>().ToArray(), features.data<float>().ToArray());
    }

    [Fact]
    public void InitStd_draws_weights_from_N_0_sigma_with_zero_biases()
    {
        using var d = new MlpDiscriminator(2, new NetworkSpec { Width = 256, Depth = 2 }, initStd: 0.02);
        var hidden = d.modules().OfType<Linear>().Single(l => l.weight!.shape[0] == 256 && l.weight.shape[1] == 256);
        double std = hidden.weight!.std().item<float>();
        Assert.InRange(std, 0.018, 0.022); // 65,536 draws: the sample std is within 1 % of 0.02
        Assert.Equal(0f, hidden.bias!.abs().max().item<float>());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void PacGANs_networks_train_through_the_reference_loop_and_resume_exactly(int packing)
    {
        var spec = PacGanLike(packing) with { Training = TestSpecs.SmallRing().Training with { BatchSize = 64 } };
        SpecValidator.ThrowIfInvalid(spec);
        using var straight = new ReferenceLoop(spec);
        straight.Run(6);
        using var resumed = new ReferenceLoop(spec);
        resumed.Run(3);
        using var g = new MemoryStream();
        using var d = new MemoryStream();
        using (var w = new BinaryWriter(g, System.Text.Encoding.UTF8, leaveOpen: true)) resumed.Generator.Save(w);
        using (var w = new BinaryWriter(d, System.Text.Encoding.UTF8, leaveOpen: true)) resumed.Discriminator.Save(w);
        using var again = new ReferenceLoop(spec);
        g.Position = d.Position = 0;
        using (var r = new BinaryReader(g)) again.Generator.Load(r);
        using (var r = new BinaryReader(d)) again.Discriminator.Load(r);
        again.Run(3);
        Assert.Equal(straight.Generator.WeightBytes(), again.Generator.WeightBytes());
        Assert.Equal(straight.Discriminator.WeightBytes(), again.Discriminator.WeightBytes());
    }

    [Fact]
    public void The_options_are_refused_where_they_do_not_apply()
    {
        string Problems(GanSpec s) => Assert.Throws<SpecException>(() => SpecValidator.ThrowIfInvalid(s)).Message;
        var ring = TestSpecs.SmallRing();
        Assert.Contains("model.discriminator.maxout: must be between 2 and 16", Problems(ring with { Model = ring.Model with { Discriminator = new NetworkSpec { Maxout = 1 } } }));
        Assert.Contains("model.initStd", Problems(ring with { Model = ring.Model with { InitStd = -0.1 } }));
        Assert.Contains("model.generator.normalization: must be one of", Problems(ring with { Model = ring.Model with { Generator = new NetworkSpec { Normalization = "group" } } }));
        Assert.Contains("model.discriminator.normalization: batch cannot be used with loss.kind wasserstein_gp",
            Problems(ring with { Loss = new LossSpec { Kind = "wasserstein_gp", GradientPenalty = 10 }, Model = ring.Model with { Discriminator = new NetworkSpec { Normalization = "batch" } } }));
    }
}
