using GanCluster.Contracts.Specs;
using GanCluster.Grains.Gan.Data;

namespace GanCluster.Grains.Gan.Networks;

/// <summary>Resolves the spec's model and techniques to networks (the spec names the parts; code builds them).</summary>
public static class NetworkFactory
{
    public static GeneratorNetwork Generator(GanSpec spec, IRealData data)
    {
        int classes = spec.Techniques.Conditional ? data.ClassCount : 0;
        return new MlpGenerator(spec.Model.NoiseDim, checked((int)data.SampleShape[0]), spec.Model.Generator, classes);
    }

    public static DiscriminatorNetwork Discriminator(GanSpec spec, IRealData data)
    {
        int classes = spec.Techniques.Conditional ? data.ClassCount : 0;
        var mb = spec.Techniques.MinibatchDiscrimination;
        return new MlpDiscriminator(checked((int)data.SampleShape[0]), spec.Model.Discriminator, classes, mb.Kernels, mb.KernelDim);
    }
}
