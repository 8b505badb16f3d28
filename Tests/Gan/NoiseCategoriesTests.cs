using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>model.noiseCategories: a uniformly drawn one-hot category beside G's noise.</summary>
public class NoiseCategoriesTests
{
    [Fact]
    public void Each_sample_gets_its_noise_and_exactly_one_category_drawn_uniformly()
    {
        var model = new ModelSpec { NoiseDim = 3, NoiseCategories = 5 };
        using var rng = new TorchSharp.torch.Generator(7);
        using var input = NoiseSampler.Sample(model, 5000, CPU, rng);
        Assert.Equal(new long[] { 5000, 8 }, input.shape);
        using var code = input.narrow(1, 3, 5);
        var rows = code.sum(1).data<float>().ToArray();
        Assert.All(rows, r => Assert.Equal(1f, r));
        Assert.Equal(5000 * 4, code.eq(0).sum().item<long>());
        // Uniform over the 5 categories: each about 1,000 of 5,000 (a binomial's sd is 28; 6 sd either side).
        var counts = code.sum(0L).data<float>().ToArray();
        Assert.All(counts, c => Assert.InRange(c, 830, 1170));
    }

    [Fact]
    public void Without_categories_the_noise_is_what_it_was()
    {
        using var a = new TorchSharp.torch.Generator(3);
        using var b = new TorchSharp.torch.Generator(3);
        using var input = NoiseSampler.Sample(new ModelSpec { NoiseDim = 4 }, 16, CPU, a);
        using var plain = randn([16, 4], generator: b);
        Assert.Equal(plain.data<float>().ToArray(), input.data<float>().ToArray());
    }

    [Fact]
    public void A_GAN_with_categories_trains_with_G_taking_noise_and_code()
    {
        var s = TestSpecs.SmallRing(30);
        var spec = s with { Model = s.Model with { NoiseCategories = 4 } };
        using var loop = new ReferenceLoop(spec);
        Assert.Equal(64 * (2 + 4), loop.Generator.FirstParameter().Weights.Length);  // the first Linear: width × (noiseDim + K)
        loop.Run(30);
        var (samples, _) = loop.Generator.SampleForEvaluation(256);
        using (samples)
        {
            Assert.Equal(new long[] { 256, 2 }, samples.shape);
            Assert.True(samples.isfinite().all().item<bool>());
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4097)]
    public void A_category_count_out_of_range_is_refused_naming_the_field(int categories)
    {
        var s = TestSpecs.SmallRing(10);
        var problems = SpecValidator.Validate(s with { Model = s.Model with { NoiseCategories = categories } });
        Assert.Contains(problems, p => p.StartsWith("model.noiseCategories", StringComparison.Ordinal));
    }
}
