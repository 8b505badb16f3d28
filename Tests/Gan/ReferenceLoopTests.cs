using GanCluster.Gan.Training;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Gan;

public class ReferenceLoopTests
{
    [Fact]
    public void Saving_and_loading_mid_run_gives_the_same_weights_as_never_stopping()
    {
        var spec = TestSpecs.SmallRing(steps: 40);
        using var straight = new ReferenceLoop(spec);
        straight.Run(40);

        byte[] gState, dState;
        using (var first = new ReferenceLoop(spec))
        {
            first.Run(17);
            gState = Save(first.Generator.Save);
            dState = Save(first.Discriminator.Save);
        }
        using var resumed = new ReferenceLoop(spec);
        resumed.Generator.Load(new BinaryReader(new MemoryStream(gState)));
        resumed.Discriminator.Load(new BinaryReader(new MemoryStream(dState)));
        Assert.Equal(17, resumed.Generator.Step);
        resumed.Run(23);

        Assert.Equal(straight.Generator.WeightBytes(), resumed.Generator.WeightBytes());
        Assert.Equal(straight.Discriminator.WeightBytes(), resumed.Discriminator.WeightBytes());
    }

    [Fact]
    public void A_different_seed_gives_different_weights()
    {
        using var a = new ReferenceLoop(TestSpecs.SmallRing(seed: 1));
        using var b = new ReferenceLoop(TestSpecs.SmallRing(seed: 2));
        a.Run(3);
        b.Run(3);
        Assert.NotEqual(a.Generator.WeightBytes(), b.Generator.WeightBytes());
    }

    [Fact]
    public void A_worker_state_of_the_wrong_role_is_refused()
    {
        var spec = TestSpecs.SmallRing();
        using var loop = new ReferenceLoop(spec);
        var gState = Save(loop.Generator.Save);
        var e = Assert.Throws<InvalidDataException>(() => loop.Discriminator.Load(new BinaryReader(new MemoryStream(gState))));
        Assert.Contains("generator", e.Message);
    }

    private static byte[] Save(Action<BinaryWriter> save)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) save(writer);
        return stream.ToArray();
    }
}
