using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Gan;

/// <summary>The sample-ahead contract of G (D asks G to step and sample the next batch in one call).</summary>
public class SampleAheadTests
{
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
