using GanCluster.Gan.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public sealed class FlatAdamTests
{
    private static nn.Module<Tensor, Tensor> Mlp(ulong seed)
    {
        // Under the members' lock on the process-wide RNG: tests run beside cluster tests whose members draw from it.
        return Seeds.WithGlobalSeed<nn.Module<Tensor, Tensor>>(seed, () => nn.Sequential(("l0", nn.Linear(3, 16)), ("a0", nn.ReLU()), ("l1", nn.Linear(16, 1))));
    }

    private static void Backward(nn.Module<Tensor, Tensor> net, int step)
    {
        using var scope = NewDisposeScope();
        net.zero_grad();
        using var g = new torch.Generator((ulong)(100 + step));
        var x = randn([32, 3], generator: g);
        net.forward(x).square().mean().backward();
    }

    private static float[] Weights(nn.Module module) => [.. module.parameters().SelectMany(p => p.data<float>().ToArray())];

    [Fact]
    public void It_steps_as_torch_Adam_does_and_reports_the_gradient_norm()
    {
        using var flatNet = Mlp(1);
        using var torchNet = Mlp(1);
        using var flat = new FlatAdam(flatNet.parameters(), 1e-2, 0.5, 0.999);
        using var reference = optim.Adam(torchNet.parameters(), 1e-2, 0.5, 0.999);
        for (int step = 0; step < 25; step++)
        {
            Backward(flatNet, step);
            Backward(torchNet, step);
            double expectedNorm;
            using (var norms = stack([.. torchNet.parameters().Select(p => p.grad!.norm())])) expectedNorm = norms.norm().item<float>();
            flat.Step();
            double norm = flat.GradientNorm();
            reference.step();
            Assert.Equal(expectedNorm, norm, 4);
        }
        var a = Weights(flatNet);
        var b = Weights(torchNet);
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 1e-6, "weights differ from torch's Adam by more than 1e-6");
        Assert.NotEqual(Weights(Mlp(1)), a); // it did move them
    }

    [Fact]
    public void A_saved_and_loaded_state_continues_exactly_as_an_uninterrupted_one()
    {
        using var straight = Mlp(2);
        using var straightAdam = new FlatAdam(straight.parameters(), 1e-2, 0.9, 0.99);
        using var resumed = Mlp(2);
        using var resumedAdam = new FlatAdam(resumed.parameters(), 5e-2, 0.1, 0.5); // overwritten by the load
        for (int step = 0; step < 10; step++) { Backward(straight, step); straightAdam.Step(); }
        byte[] saved;
        using (var stream = new MemoryStream())
        {
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                straight.save(writer);
                straightAdam.Save(writer);
            }
            saved = stream.ToArray();
        }
        using (var reader = new BinaryReader(new MemoryStream(saved)))
        {
            resumed.load(reader, strict: true);
            resumedAdam.Load(reader);
        }
        Assert.Equal((1e-2, 0.9, 0.99), (resumedAdam.LearningRate, resumedAdam.Beta1, resumedAdam.Beta2));
        for (int step = 10; step < 20; step++)
        {
            Backward(straight, step); straightAdam.Step();
            Backward(resumed, step); resumedAdam.Step();
        }
        Assert.Equal(Weights(straight), Weights(resumed));
    }

    [Fact]
    public void A_parameter_without_a_gradient_is_left_alone_as_torch_Adam_leaves_it()
    {
        using var net = Mlp(3);
        using var adam = new FlatAdam(net.parameters(), 1e-2, 0.5, 0.999);
        Backward(net, 0);
        adam.Step();
        var last = net.parameters().Last();
        var before = last.data<float>().ToArray();
        Backward(net, 1);
        last.grad = null;
        adam.Step();
        Assert.Equal(before, last.data<float>().ToArray());
        Assert.NotEqual(Weights(Mlp(3)).Take(48), Weights(net).Take(48));
    }

    [Fact]
    public void Disposing_it_frees_every_tensor_it_made()
    {
        using var net = Mlp(6);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var adam = new FlatAdam(net.parameters(), 1e-3, 0.5, 0.999))
        {
            Backward(net, 0);
            adam.Step();
            net.zero_grad();
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Theory]
    [InlineData(0.0, 0.5, 0.999)]
    [InlineData(1e-3, 1.0, 0.999)]
    [InlineData(1e-3, 0.5, -0.1)]
    [InlineData(double.NaN, 0.5, 0.999)]
    public void Impossible_hyperparameters_are_refused_with_their_values(double lr, double beta1, double beta2)
    {
        using var net = Mlp(4);
        var e = Assert.Throws<ArgumentException>(() => new FlatAdam(net.parameters(), lr, beta1, beta2));
        Assert.Contains("Adam needs lr > 0 and betas in [0, 1)", e.Message);
    }

    [Fact]
    public void A_state_for_another_network_is_refused_with_the_reason()
    {
        using var small = Mlp(5);
        using var smallAdam = new FlatAdam(small.parameters(), 1e-3, 0.5, 0.999);
        using var other = Seeds.WithGlobalSeed(6, () => nn.Sequential(("l0", nn.Linear(3, 4))));
        using var otherAdam = new FlatAdam(other.parameters(), 1e-3, 0.5, 0.999);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) smallAdam.Save(writer);
        stream.Position = 0;
        var e = Assert.Throws<InvalidDataException>(() => otherAdam.Load(new BinaryReader(stream)));
        Assert.Contains("optimizer state holds 4 parameters, the network has 2", e.Message);
    }
}
