using GanCluster.Gan.Training;
using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Gan;

/// <summary>What the benchmark suite computes (FLOP counts), and the sample-ahead contract its speed-up rests on.</summary>
public class PerformanceSupportTests
{
    [Fact]
    public void The_ring_of_8_step_counts_the_schedules_matrix_products()
    {
        var spec = SpecLoader.LoadFile(Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"));
        using var loop = new ReferenceLoop(spec);
        // G 2→128→128→2: Σ in·out = 256 + 16384 + 256 = 16896, first 256; D 2→128→128→1: 16768, first 256.
        Assert.Equal((16896L, 256L), StepFlops.LinearProducts(loop.Generator.Network));
        Assert.Equal((16768L, 256L), StepFlops.LinearProducts(loop.Discriminator.Network));
        const double b = 512;
        double expected =
            2 * (b + b) * 16896                                                  // G forward: D's batch and G's batch
            + 2 * (2 * b) * 16768 + 2 * (2 * b) * 16768 + 2 * (2 * b) * 16512    // D step: forward, weight grads, input grads past layer 1
            + 2 * b * 16768 + 2 * b * 16768                                      // G's feedback: forward, input grads
            + 2 * b * 16896 + 2 * b * 16640;                                     // G backward: weight grads, input grads past layer 1
        Assert.Equal(expected, StepFlops.PerStep(loop));
        Assert.InRange(StepFlops.PerStep(loop), 205e6, 207e6);
    }

    [Fact]
    public void More_discriminator_steps_add_their_products()
    {
        var spec = TestSpecs.SmallRing();
        using var one = new ReferenceLoop(spec);
        using var two = new ReferenceLoop(spec with { Training = spec.Training with { DStepsPerGStep = 2 } });
        var g = StepFlops.LinearProducts(one.Generator.Network);
        var d = StepFlops.LinearProducts(one.Discriminator.Network);
        double oneDStep = 2 * 256.0 * d.Total * 2 + 2 * 256.0 * (d.Total - d.First) + 2 * 128.0 * g.Total;
        Assert.Equal(StepFlops.PerStep(one) + oneDStep, StepFlops.PerStep(two));
    }

    [Fact]
    public void A_batch_sampled_ahead_and_not_applied_does_not_count_as_drawn()
    {
        var spec = TestSpecs.SmallRing(steps: 20);
        using var straight = new ReferenceLoop(spec);
        straight.Run(6);
        using var atThree = new ReferenceLoop(spec);
        atThree.Run(3);

        using var ahead = new ReferenceLoop(spec);
        ahead.Run(3);
        byte[] first;
        using (var batch = ahead.Generator.Sample(1)) first = Bytes(batch.ForGenerator);
        // A checkpoint taken with a batch pending is the checkpoint of the step before it, byte for byte.
        Assert.Equal(Save(atThree.Generator.Save), Save(ahead.Generator.Save));
        // Sampling again draws the same batch, and stepping with it continues the trajectory exactly.
        using (var again = ahead.Generator.Sample(1))
        {
            Assert.Equal(first, Bytes(again.ForGenerator));
            var result = ahead.Discriminator.Train(again.ForDiscriminator, null, again.ForGenerator, null);
            using (result.GeneratorGradient) ahead.Generator.ApplyGradient(result.GeneratorGradient);
        }
        ahead.Run(2);
        Assert.Equal(straight.Generator.WeightBytes(), ahead.Generator.WeightBytes());
        Assert.Equal(straight.Discriminator.WeightBytes(), ahead.Discriminator.WeightBytes());
        Assert.Equal(Save(straight.Generator.Save), Save(ahead.Generator.Save));
    }

    private static byte[] Bytes(TorchSharp.torch.Tensor t) => t.data<float>().ToArray().SelectMany(BitConverter.GetBytes).ToArray();

    private static byte[] Save(Action<BinaryWriter> save)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) save(writer);
        return stream.ToArray();
    }
}
