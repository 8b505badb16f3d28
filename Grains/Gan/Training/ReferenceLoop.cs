using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>
/// The yardstick: the same GAN and schedule as a member, in one process with no Orleans and no tensor messages.
/// The cluster is measured against it (speed) and compared with it (bit-identical weights).
/// </summary>
public sealed class ReferenceLoop : IDisposable
{
    public ReferenceLoop(GanSpec spec, Device? device = null)
    {
        var d = device ?? CPU;
        var data = RealData.FromSpec(spec.Data);
        Generator = new GeneratorModel(spec, data, d);
        Discriminator = new DiscriminatorModel(spec, data, d);
        Spec = spec;
    }

    public GanSpec Spec { get; }
    public GeneratorModel Generator { get; }
    public DiscriminatorModel Discriminator { get; }

    /// <summary>One schedule step: k D steps, then one G step through D's input gradient. Returns D's statistics.</summary>
    public DiscriminatorStep Step()
    {
        using var batch = Generator.Sample(Spec.Training.DStepsPerGStep);
        var result = Discriminator.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
        using (result.GeneratorGradient)
            Generator.ApplyGradient(result.GeneratorGradient);
        return result;
    }

    public void Run(long steps)
    {
        for (long i = 0; i < steps; i++) Step();
    }

    public void Dispose()
    {
        Generator.Dispose();
        Discriminator.Dispose();
    }
}
