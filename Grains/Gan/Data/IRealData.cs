using static TorchSharp.torch;

namespace GanCluster.Gan.Data;

/// <summary>Where D's real samples come from: a mixture of Gaussians or an image set.</summary>
public interface IRealData
{
    /// <summary>Shape of one sample: [dimension] for mixtures, [1, 28, 28] for images.</summary>
    long[] SampleShape { get; }
    /// <summary>Classes a conditional GAN can be given (modes of a mixture, digit classes of images).</summary>
    int ClassCount { get; }
    /// <summary>A batch and its classes, drawn with <paramref name="rng"/> only (reproducible, checkpointable).</summary>
    (Tensor Samples, Tensor Classes) SampleWithClasses(int count, Generator rng, Device device);
}
