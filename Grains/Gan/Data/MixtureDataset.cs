using GanCluster.Gan.Specs;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Data;

/// <summary>
/// A mixture of equally weighted isotropic Gaussians: the ring, the grid and the 1-D Gaussian of the GAN literature.
/// Sampling draws only from the generator passed in, so that a member's data stream is reproducible and checkpointable.
/// </summary>
public sealed class MixtureDataset : IRealData
{
    public MixtureDataset(string kind, float[][] modeCenters, double std)
    {
        if (modeCenters.Length == 0) throw new ArgumentException("a mixture needs at least one mode", nameof(modeCenters));
        Kind = kind;
        ModeCenters = modeCenters;
        Std = std;
        Dimension = modeCenters[0].Length;
    }

    public string Kind { get; }
    public float[][] ModeCenters { get; }
    public double Std { get; }
    public int Dimension { get; }
    public int ModeCount => ModeCenters.Length;
    public long[] SampleShape => [Dimension];
    public int ClassCount => ModeCount;

    public (Tensor Samples, Tensor Classes) SampleWithClasses(int count, Generator rng, Device device) => SampleWithModes(count, rng, device);

    public static MixtureDataset FromSpec(DataSpec spec) => spec.Kind switch
    {
        "ring" => Ring(spec.Modes, spec.Radius, spec.Std),
        "grid" => Grid(spec.Size, spec.Spacing, spec.Std),
        "gaussian1d" => new MixtureDataset("gaussian1d", [[(float)spec.Mean]], spec.Std),
        _ => throw new ArgumentException($"data.kind: unknown dataset '{spec.Kind}' (ring, grid, gaussian1d)"),
    };

    /// <summary>k modes at angles 2πi/k, i = 0..k−1: evenly spaced, none repeated (unlike linspace(0, 2π, k)).</summary>
    public static MixtureDataset Ring(int modes, double radius, double std)
    {
        var centers = new float[modes][];
        for (int i = 0; i < modes; i++)
        {
            double angle = 2 * Math.PI * i / modes;
            centers[i] = [(float)(radius * Math.Cos(angle)), (float)(radius * Math.Sin(angle))];
        }
        return new MixtureDataset("ring", centers, std);
    }

    /// <summary>size × size modes centred on the origin, <paramref name="spacing"/> apart (5, 2.0 gives {−4,−2,0,2,4}²).</summary>
    public static MixtureDataset Grid(int size, double spacing, double std)
    {
        var centers = new float[size * size][];
        double offset = (size - 1) / 2.0;
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                centers[i * size + j] = [(float)((i - offset) * spacing), (float)((j - offset) * spacing)];
        return new MixtureDataset("grid", centers, std);
    }

    /// <summary>A batch of real samples, [count, dimension], drawn with <paramref name="rng"/>.</summary>
    public Tensor Sample(int count, Generator rng, Device device)
    {
        var (batch, modes) = SampleWithModes(count, rng, device);
        modes.Dispose();
        return batch;
    }

    /// <summary>Real samples and the index of the mode each came from (the class of a conditional GAN).</summary>
    public (Tensor Samples, Tensor Modes) SampleWithModes(int count, Generator rng, Device device)
    {
        using var scope = NewDisposeScope();
        using var centers = CentersTensor(device);
        var index = randint(ModeCount, [count], dtype: ScalarType.Int64, device: device, generator: rng);
        var noise = randn([count, Dimension], device: device, generator: rng);
        var batch = centers.index_select(0, index) + noise * Std;
        return (batch.MoveToOuterDisposeScope(), index.MoveToOuterDisposeScope());
    }

    private Tensor CentersTensor(Device device)
    {
        var flat = ModeCenters.SelectMany(c => c).ToArray();
        return tensor(flat, [ModeCount, Dimension]).to(device);
    }
}
