using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>techniques.generatorEma: a moving average of G's weights that evaluation samples from; training unchanged.</summary>
public class GeneratorEmaTests
{
    private static GanSpec WithEma(double decay, long steps = 20)
    {
        var s = TestSpecs.SmallRing(steps);
        return s with { Techniques = s.Techniques with { GeneratorEma = decay } };
    }

    private static float[] Samples(ReferenceLoop loop)
    {
        var (samples, _) = loop.Generator.SampleForEvaluation(64);
        using (samples) return samples.data<float>().ToArray();
    }

    [Fact]
    public void The_average_does_not_change_training_and_evaluation_samples_from_it()
    {
        using var plain = new ReferenceLoop(TestSpecs.SmallRing(20));
        using var averaged = new ReferenceLoop(WithEma(0.9));
        // Before any step the average is G itself.
        Assert.Equal(Samples(plain), Samples(averaged));
        plain.Run(5);
        averaged.Run(5);
        Assert.Equal(plain.Generator.WeightBytes(), averaged.Generator.WeightBytes());
        Assert.Equal(plain.Discriminator.WeightBytes(), averaged.Discriminator.WeightBytes());
        Assert.NotEqual(Samples(plain), Samples(averaged));
    }

    [Fact]
    public void Each_G_step_moves_the_average_by_its_decay()
    {
        using var loop = new ReferenceLoop(WithEma(0.75));
        var (w0, a0) = loop.Generator.FirstParameter();
        Assert.Equal(w0, a0);
        loop.Run(1);
        var (w1, a1) = loop.Generator.FirstParameter();
        for (int i = 0; i < w1.Length; i++) Assert.Equal(0.75 * w0[i] + 0.25 * w1[i], a1[i], 5);
    }

    [Fact]
    public void A_checkpoint_carries_the_average()
    {
        var spec = WithEma(0.9);
        using var loop = new ReferenceLoop(spec);
        loop.Run(4);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) loop.Generator.Save(writer);
        using var restored = new GeneratorModel(spec, RealData.FromSpec(spec.Data), CPU);
        stream.Position = 0;
        using (var reader = new BinaryReader(stream)) restored.Load(reader);
        Assert.Equal(loop.Generator.AverageWeightBytes(), restored.AverageWeightBytes());
        Assert.NotEqual(loop.Generator.WeightBytes(), restored.AverageWeightBytes());
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void A_decay_outside_0_to_1_is_refused(double decay)
    {
        var e = Assert.Throws<SpecException>(() => SpecValidator.ThrowIfInvalid(WithEma(decay)));
        Assert.Contains("techniques.generatorEma", e.Message);
    }
}

/// <summary>optimizer.lrDecay: linear decay of both learning rates over the last part of training.</summary>
public class LearningRateDecayTests
{
    [Fact]
    public void The_rate_holds_until_the_start_then_falls_linearly_to_zero()
    {
        var o = new OptimizerSpec { LrDecay = "linear", LrDecayStart = 0.5 };
        Assert.Equal(1, o.LrScale(0, 100));
        Assert.Equal(1, o.LrScale(49, 100));
        Assert.Equal(1, o.LrScale(50, 100));
        Assert.Equal(0.5, o.LrScale(75, 100), 12);
        Assert.Equal(0.02, o.LrScale(99, 100), 12);
        Assert.Equal(1, new OptimizerSpec().LrScale(99, 100));
    }

    [Fact]
    public void A_decayed_run_matches_the_plain_one_until_the_start_then_moves_less()
    {
        var plain = TestSpecs.SmallRing(8);
        var decayed = plain with { Optimizer = plain.Optimizer with { LrDecay = "linear", LrDecayStart = 0.5 } };
        using var a = new ReferenceLoop(plain);
        using var b = new ReferenceLoop(decayed);
        a.Run(4);
        b.Run(4);
        Assert.Equal(a.Generator.WeightBytes(), b.Generator.WeightBytes());
        Assert.Equal(a.Discriminator.WeightBytes(), b.Discriminator.WeightBytes());
        a.Run(2);
        b.Run(2);
        Assert.NotEqual(a.Generator.WeightBytes(), b.Generator.WeightBytes());
        Assert.NotEqual(a.Discriminator.WeightBytes(), b.Discriminator.WeightBytes());
    }

    [Theory]
    [InlineData("cosine", 0.5, "optimizer.lrDecay")]
    [InlineData("linear", 1.0, "optimizer.lrDecayStart")]
    [InlineData("linear", -0.1, "optimizer.lrDecayStart")]
    public void Bad_schedules_are_refused(string decay, double start, string field)
    {
        var spec = TestSpecs.SmallRing() with { Optimizer = new OptimizerSpec { LrDecay = decay, LrDecayStart = start } };
        var e = Assert.Throws<SpecException>(() => SpecValidator.ThrowIfInvalid(spec));
        Assert.Contains(field, e.Message);
    }
}
