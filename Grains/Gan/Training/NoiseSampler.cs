using GanCluster.Gan.Specs;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>G's input for <c>count</c> samples as the spec's model asks: [count, noiseDim + noiseCategories].</summary>
public static class NoiseSampler
{
    /// <summary>
    /// The noise (model.noise: normal, or uniform on [−1, 1]) and, with model.noiseCategories K &gt; 0, a one-hot of a
    /// category drawn uniformly from K, drawn in that order from <paramref name="rng"/>.
    /// </summary>
    public static Tensor Sample(ModelSpec model, int count, Device device, Generator rng)
    {
        using var scope = NewDisposeScope();
        var noise = model.Noise == "uniform"
            ? rand([count, model.NoiseDim], device: device, generator: rng) * 2 - 1
            : randn([count, model.NoiseDim], device: device, generator: rng);
        if (model.NoiseCategories > 0)
        {
            var category = randint(model.NoiseCategories, [count], dtype: ScalarType.Int64, device: device, generator: rng);
            noise = cat([noise, nn.functional.one_hot(category, model.NoiseCategories).to(noise.dtype)], 1);
        }
        return noise.MoveToOuterDisposeScope();
    }
}
