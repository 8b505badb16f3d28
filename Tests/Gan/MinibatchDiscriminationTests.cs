using GanCluster.Gan.Networks;
using GanCluster.Gan.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public class MinibatchDiscriminationTests
{
    private const int Batch = 8;
    private const int Inputs = 12;
    private const int Kernels = 5;
    private const int KernelDim = 3;

    private static MinibatchDiscrimination Layer(ulong seed) =>
        Seeds.WithGlobalSeed(seed, () => new MinibatchDiscrimination(Inputs, Kernels, KernelDim));

    private static Tensor Features(int count, ulong seed, double scale = 1.0)
    {
        using var rng = new torch.Generator(seed);
        return randn([count, Inputs], generator: rng) * scale;
    }

    private static Tensor MinibatchFeatures(Tensor output) => output.narrow(1, Inputs, Kernels);

    [Fact]
    public void The_output_is_the_input_followed_by_one_feature_per_kernel()
    {
        using var layer = Layer(1);
        using var scope = NewDisposeScope();
        var f = Features(Batch, 2);
        var output = layer.forward(f);
        ImageNetworkTests.AssertShape(output, Batch, Inputs + Kernels);
        Assert.Equal(Inputs + Kernels, layer.OutputFeatures(Inputs));
        Assert.Equal(Inputs, MinibatchDiscrimination.OutputFeatures(Inputs, 0));
        Assert.True(ImageNetworkTests.Same(output.narrow(1, 0, Inputs), f));
        Assert.Throws<ArgumentException>(() => layer.forward(Features(Batch, 2).narrow(1, 0, Inputs - 1)));
    }

    [Fact]
    public void A_collapsed_batch_gives_batch_size_minus_one_per_kernel_and_a_spread_batch_less()
    {
        using var layer = Layer(3);
        using var scope = NewDisposeScope();
        // Every row the same: each of the B − 1 others is at distance 0, exp(0) = 1.
        var collapsed = layer.forward(Features(1, 4).expand(Batch, Inputs).contiguous());
        Assert.True((MinibatchFeatures(collapsed) - (Batch - 1)).abs().max().item<float>() < 1e-5);

        var spread = MinibatchFeatures(layer.forward(Features(Batch, 5)));
        Assert.True(spread.min().item<float>() >= 0);
        Assert.True(spread.max().item<float>() < Batch - 1 - 0.5, $"spread rows look alike: max o = {spread.max().item<float>()}");
    }

    [Fact]
    public void It_computes_the_sum_over_other_samples_of_exp_minus_the_L1_distance()
    {
        using var layer = Layer(6);
        using var scope = NewDisposeScope();
        var f = Features(4, 7, scale: 0.5);
        var t = layer.parameters().Single();
        var o = MinibatchFeatures(layer.forward(f));

        // The definition, written out in doubles.
        var m = f.matmul(t).view(4, Kernels, KernelDim).to(ScalarType.Float64);
        for (int i = 0; i < 4; i++)
        for (int b = 0; b < Kernels; b++)
        {
            double expected = 0;
            for (int j = 0; j < 4; j++)
            {
                if (j == i) continue;
                double l1 = 0;
                for (int k = 0; k < KernelDim; k++)
                    l1 += Math.Abs(m[i, b, k].item<double>() - m[j, b, k].item<double>());
                expected += Math.Exp(-l1);
            }
            Assert.Equal(expected, o[i, b].item<float>(), 5);
        }
    }

    [Fact]
    public void Gradients_flow_to_T_and_to_the_input_through_the_minibatch_features()
    {
        using var layer = Layer(8);
        using var scope = NewDisposeScope();
        var f = Features(Batch, 9, scale: 0.5).requires_grad_(true);
        // Only the kernel outputs: the pass-through copy of f would give f a gradient on its own.
        MinibatchFeatures(layer.forward(f)).sum().backward();
        var tGrad = layer.parameters().Single().grad;
        Assert.True(tGrad is not null && tGrad.abs().sum().item<float>() > 0, "T has no gradient");
        Assert.True(f.grad is not null && f.grad.abs().sum().item<float>() > 0, "the input has no gradient");
    }

    [Fact]
    public void The_gradient_stays_finite_on_a_collapsed_batch()
    {
        // A collapsed generator is exactly when the layer must work: zero distances must not give NaN.
        using var layer = Layer(10);
        using var scope = NewDisposeScope();
        var f = cat([Features(1, 11).expand(Batch / 2, Inputs), Features(Batch / 2, 12, scale: 0.5)], 0).requires_grad_(true);
        MinibatchFeatures(layer.forward(f)).sum().backward();
        Assert.True(f.grad!.isfinite().all().item<bool>());
        Assert.True(layer.parameters().Single().grad!.isfinite().all().item<bool>());
    }

    /// <summary>The logit of image 0 in a batch of eight copies of it, and in a batch of it and seven other images.</summary>
    private static (float Collapsed, float Spread) LogitOfOneImageInTwoBatches(DcganDiscriminator d)
    {
        using var scope = NewDisposeScope();
        var image = ImageNetworkTests.Images(1, 13);
        var collapsed = image.expand(Batch, 1, 28, 28).contiguous();
        var spread = cat([image, ImageNetworkTests.Images(Batch - 1, 14)], 0);
        return (d.Discriminate(collapsed, null).Logits[0].item<float>(), d.Discriminate(spread, null).Logits[0].item<float>());
    }

    [Theory]
    [InlineData("none", true)]
    [InlineData("layer", true)]
    [InlineData("batch", false)]
    public void With_minibatch_discrimination_an_image_scores_differently_in_a_collapsed_batch(string normalization, bool train)
    {
        using var d = ImageNetworkTests.BuildDiscriminator(15, normalization: normalization, minibatchKernels: Kernels);
        d.train(train);
        var (collapsed, spread) = LogitOfOneImageInTwoBatches(d);
        Assert.True(Math.Abs(collapsed - spread) > 1e-3, $"logit {collapsed} in a collapsed batch, {spread} in a spread one");
    }

    [Theory]
    [InlineData("none", true)]
    [InlineData("layer", true)]
    [InlineData("batch", false)]
    public void Without_it_an_image_scores_the_same_whatever_its_batch(string normalization, bool train)
    {
        using var d = ImageNetworkTests.BuildDiscriminator(15, normalization: normalization);
        d.train(train);
        var (collapsed, spread) = LogitOfOneImageInTwoBatches(d);
        Assert.True(Math.Abs(collapsed - spread) < 1e-5, $"logit {collapsed} in a collapsed batch, {spread} in a spread one");
    }

    [Fact]
    public void BatchNorm_in_train_mode_also_mixes_the_batch()
    {
        // Why the batch-independence above needs eval() with "batch": in train mode BatchNorm uses the batch's statistics.
        using var d = ImageNetworkTests.BuildDiscriminator(15, normalization: "batch");
        d.train();
        var (collapsed, spread) = LogitOfOneImageInTwoBatches(d);
        Assert.True(Math.Abs(collapsed - spread) > 1e-3, $"logit {collapsed} in a collapsed batch, {spread} in a spread one");
    }
}
