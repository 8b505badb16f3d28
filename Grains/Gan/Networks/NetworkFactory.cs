using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;

namespace GanCluster.Gan.Networks;

/// <summary>Resolves the spec's model and techniques to networks (the spec names the parts; code builds them).</summary>
public static class NetworkFactory
{
    public static GeneratorNetwork Generator(GanSpec spec, IRealData data)
    {
        int classes = spec.Techniques.Conditional ? data.ClassCount : 0;
        var m = spec.Model;
        return m.Architecture switch
        {
            "dcgan" => new DcganGenerator(m.GeneratorInputs(), m.Generator.Width, classes),
            "lapgan" => new LapganGenerator(m.GeneratorInputs(), m.Generator.Width, classes),
            _ => new MlpGenerator(m.GeneratorInputs(), checked((int)data.SampleShape[0]), m.Generator, classes, m.InitStd),
        };
    }

    public static DiscriminatorNetwork Discriminator(GanSpec spec, IRealData data)
    {
        int classes = spec.Techniques.Conditional ? data.ClassCount : 0;
        var mb = spec.Techniques.MinibatchDiscrimination;
        var m = spec.Model;
        return m.Architecture switch
        {
            "dcgan" or "lapgan" => new DcganDiscriminator(m.Discriminator.Width, classes, m.Discriminator.NormalizationFor(m.Architecture, discriminator: true), mb.Kernels, mb.KernelDim, packing: spec.Techniques.Packing, spectralNorm: spec.Techniques.SpectralNorm),
            _ => new MlpDiscriminator(checked((int)data.SampleShape[0]), m.Discriminator, classes, mb.Kernels, mb.KernelDim, spec.Techniques.Packing, m.InitStd, spec.Techniques.SpectralNorm),
        };
    }
}
