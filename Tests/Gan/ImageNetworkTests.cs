using GanCluster.Gan.Networks;
using GanCluster.Gan.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public class ImageNetworkTests
{
    private const int Batch = 6;
    private const int NoiseDim = 16;
    private const int Width = 8;
    private const int Classes = 10;

    internal static GeneratorNetwork BuildGenerator(string architecture, int classCount, ulong seed) =>
        Seeds.WithGlobalSeed<GeneratorNetwork>(seed, () => architecture switch
        {
            "dcgan" => new DcganGenerator(NoiseDim, Width, classCount),
            "lapgan" => new LapganGenerator(NoiseDim, Width, classCount),
            _ => throw new ArgumentException(architecture),
        });

    internal static DcganDiscriminator BuildDiscriminator(ulong seed, int classCount = 0, string normalization = "batch",
        int minibatchKernels = 0, int featureDim = 0) =>
        Seeds.WithGlobalSeed(seed, () => new DcganDiscriminator(Width, classCount, normalization, minibatchKernels, 5, featureDim));

    internal static Tensor Noise(int count, ulong seed)
    {
        using var rng = new torch.Generator(seed);
        return randn([count, NoiseDim], generator: rng);
    }

    /// <summary>Stand-in images in [−1, 1].</summary>
    internal static Tensor Images(int count, ulong seed)
    {
        using var rng = new torch.Generator(seed);
        return rand([count, 1, 28, 28], generator: rng) * 2 - 1;
    }

    internal static Tensor? Labels(int count, int classCount, ulong seed)
    {
        if (classCount == 0) return null;
        using var rng = new torch.Generator(seed);
        return randint(classCount, [count], dtype: ScalarType.Int64, generator: rng);
    }

    private static float MaxAbs(Tensor t) => t.abs().max().item<float>();

    /// <summary>Same shape and every element equal (bit for bit, for tensors without NaN).</summary>
    internal static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    internal static void AssertShape(Tensor t, params long[] shape) =>
        Assert.True(t.shape.SequenceEqual(shape), $"shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", shape)}]");

    private static void AssertKeys(IEnumerable<string> expected, nn.Module module) =>
        Assert.Equal(expected.Order(StringComparer.Ordinal).ToArray(), module.state_dict().Keys.Order(StringComparer.Ordinal).ToArray());

    [Theory]
    [InlineData("dcgan", 0)]
    [InlineData("dcgan", Classes)]
    [InlineData("lapgan", 0)]
    [InlineData("lapgan", Classes)]
    public void Generators_make_28_by_28_grayscale_images_in_minus_one_to_one(string architecture, int classCount)
    {
        using var g = BuildGenerator(architecture, classCount, seed: 1);
        using var scope = NewDisposeScope();
        var images = g.Generate(Noise(Batch, 2), Labels(Batch, classCount, 3));
        AssertShape(images, Batch, 1, 28, 28);
        Assert.InRange(images.min().item<float>(), -1f, 1f);
        Assert.InRange(images.max().item<float>(), -1f, 1f);
        Assert.True(images.std().item<float>() > 1e-4, "a constant image");
    }

    [Theory]
    [InlineData("batch", 0, 0, 0)]
    [InlineData("layer", Classes, 0, 0)]
    [InlineData("none", 0, 4, 0)]
    [InlineData("batch", Classes, 4, 32)]
    public void The_DCGAN_discriminator_gives_one_logit_and_its_features_per_image(string normalization, int classCount,
        int minibatchKernels, int featureDim)
    {
        using var d = BuildDiscriminator(4, classCount, normalization, minibatchKernels, featureDim);
        using var scope = NewDisposeScope();
        var (logits, features) = d.Discriminate(Images(Batch, 5), Labels(Batch, classCount, 6));
        int expectedFeatures = featureDim > 0 ? featureDim : 2 * Width * 7 * 7;
        Assert.Equal(expectedFeatures, d.FeatureCount);
        AssertShape(logits, Batch);
        AssertShape(features, Batch, expectedFeatures);
        // Every layer initialised: no NaN, and nothing of the size that uninitialised memory gives.
        Assert.True(logits.isfinite().all().item<bool>() && features.isfinite().all().item<bool>());
        Assert.True(MaxAbs(features) < 100, $"features as large as {MaxAbs(features)}");
        // Flat rows are the same images.
        var (flatLogits, _) = d.Discriminate(Images(Batch, 5).view(Batch, 784), Labels(Batch, classCount, 6));
        Assert.True(Same(flatLogits, logits));
    }

    [Fact]
    public void A_discriminator_refuses_inputs_that_are_not_28_by_28_images()
    {
        using var d = BuildDiscriminator(7);
        using var x = zeros(2, 3, 28, 28);
        Assert.Throws<ArgumentException>(() => d.Discriminate(x, null));
    }

    [Fact]
    public void Layer_normalization_starts_with_unit_scale_and_zero_shift()
    {
        // TorchSharp 0.107 leaves GroupNorm's affine uninitialised; the network must set it.
        using var d = BuildDiscriminator(7, normalization: "layer");
        var state = d.state_dict();
        Assert.True(state["body.norm2.weight"].eq(1).all().item<bool>(), "scale is not 1");
        Assert.True(state["body.norm2.bias"].eq(0).all().item<bool>(), "shift is not 0");
    }

    [Fact]
    public void An_unknown_normalization_is_refused_with_its_name()
    {
        var e = Assert.Throws<ArgumentException>(() => Seeds.WithGlobalSeed(1, () => new DcganDiscriminator(Width, normalization: "instance")));
        Assert.Contains("instance", e.Message);
    }

    [Theory]
    [InlineData("dcgan")]
    [InlineData("lapgan")]
    public void A_conditional_generator_changes_a_sample_when_only_its_label_changes(string architecture)
    {
        using var g = BuildGenerator(architecture, Classes, seed: 8);
        // BatchNorm on its running statistics, so that each sample depends only on its own (z, y).
        g.eval();
        using var scope = NewDisposeScope();
        var z = Noise(Batch, 9);
        var labels = tensor(new long[] { 0, 1, 2, 3, 4, 5 });
        var relabelled = tensor(new long[] { 7, 1, 2, 3, 4, 5 });
        var difference = (g.Generate(z, labels) - g.Generate(z, relabelled)).abs().amax([1, 2, 3]);
        Assert.True(difference[0].item<float>() > 1e-4, $"sample 0 moved by {difference[0].item<float>()}");
        Assert.True(MaxAbs(difference.narrow(0, 1, Batch - 1)) < 1e-6, "samples whose label did not change moved");
    }

    [Fact]
    public void A_conditional_discriminator_scores_a_sample_by_its_label_through_the_projection_only()
    {
        using var d = BuildDiscriminator(10, classCount: Classes);
        d.eval();
        using var scope = NewDisposeScope();
        var x = Images(Batch, 11);
        var (logits, features) = d.Discriminate(x, tensor(new long[] { 0, 1, 2, 3, 4, 5 }));
        var (relabelledLogits, relabelledFeatures) = d.Discriminate(x, tensor(new long[] { 7, 1, 2, 3, 4, 5 }));
        Assert.True(MaxAbs(logits[0] - relabelledLogits[0]) > 1e-5);
        Assert.True(MaxAbs(logits.narrow(0, 1, Batch - 1) - relabelledLogits.narrow(0, 1, Batch - 1)) < 1e-6);
        Assert.True(Same(features, relabelledFeatures), "the features depend on the label");
    }

    [Fact]
    public void Conditional_networks_called_without_labels_say_so()
    {
        using var g = BuildGenerator("dcgan", Classes, seed: 12);
        using var l = BuildGenerator("lapgan", Classes, seed: 12);
        using var d = BuildDiscriminator(12, classCount: Classes);
        using var scope = NewDisposeScope();
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => g.Generate(Noise(2, 1), null)).Message);
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => l.Generate(Noise(2, 1), null)).Message);
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => d.Discriminate(Images(2, 1), null)).Message);
    }

    private static Tensor Upsample(Tensor image, long size) =>
        nn.functional.interpolate(image, size: [size, size], mode: InterpolationMode.Bilinear, align_corners: false);

    private static void ZeroResidual(nn.Module network, string level)
    {
        using var _ = no_grad();
        int zeroed = 0;
        foreach (var (name, parameter) in network.named_parameters())
        {
            if (!name.StartsWith($"{level}.residual.", StringComparison.Ordinal)) continue;
            parameter.zero_();
            zeroed++;
        }
        Assert.True(zeroed > 0, $"no parameters under {level}.residual");
    }

    [Fact]
    public void Each_LAPGAN_level_learns_only_a_residual_over_the_upsampled_coarser_level()
    {
        using var g = (LapganGenerator)BuildGenerator("lapgan", 0, seed: 13);
        using var scope = NewDisposeScope();
        var z = Noise(Batch, 14);

        var pyramid = g.Pyramid(z, null);
        AssertShape(pyramid[0], Batch, 1, 7, 7);
        AssertShape(pyramid[1], Batch, 1, 14, 14);
        AssertShape(pyramid[2], Batch, 1, 28, 28);
        Assert.True(Same(g.Generate(z, null), pyramid[2].tanh()));
        // As initialised, level 2 adds detail: the image is not just the upsampled 14×14 level.
        Assert.True(MaxAbs(g.Generate(z, null) - Upsample(pyramid[1], 28).tanh()) > 1e-4);

        ZeroResidual(g, "level2");
        var zeroed = g.Pyramid(z, null);
        Assert.True(Same(zeroed[1], pyramid[1]), "zeroing level 2 changed level 1");
        Assert.True(MaxAbs(g.Generate(z, null) - Upsample(zeroed[1], 28).tanh()) < 1e-6);

        ZeroResidual(g, "level1");
        var both = g.Pyramid(z, null);
        Assert.True(MaxAbs(both[1] - Upsample(both[0], 14)) < 1e-6);
        Assert.True(MaxAbs(both[2] - Upsample(Upsample(both[0], 14), 28)) < 1e-6);
    }

    public static TheoryData<string> Networks => ["dcgan-g", "lapgan-g", "dcgan-d", "dcgan-d-mbd-layer"];

    private static nn.Module Build(string network, ulong seed) => network switch
    {
        "dcgan-g" => BuildGenerator("dcgan", Classes, seed),
        "lapgan-g" => BuildGenerator("lapgan", Classes, seed),
        "dcgan-d" => BuildDiscriminator(seed, Classes),
        "dcgan-d-mbd-layer" => BuildDiscriminator(seed, Classes, "layer", minibatchKernels: 4, featureDim: 32),
        _ => throw new ArgumentException(network),
    };

    /// <summary>One forward pass: a tensor that depends on every parameter.</summary>
    private static Tensor Forward(nn.Module network) => network switch
    {
        GeneratorNetwork g => g.Generate(Noise(Batch, 20), Labels(Batch, Classes, 21)),
        DiscriminatorNetwork d => d.Discriminate(Images(Batch, 22), Labels(Batch, Classes, 21)).Logits,
        _ => throw new ArgumentException(network.GetType().Name),
    };

    [Theory]
    [MemberData(nameof(Networks))]
    public void The_gradient_reaches_every_parameter(string network)
    {
        using var module = Build(network, 15);
        using var scope = NewDisposeScope();
        var output = Forward(module);
        using var rng = new torch.Generator(16);
        // A random projection, not a plain sum: the sum of a BatchNorm's outputs does not depend on its inputs.
        (output * randn(output.shape, generator: rng)).sum().backward();
        foreach (var (name, parameter) in module.named_parameters())
        {
            var grad = parameter.grad;
            Assert.True(grad is not null, $"{name} has no gradient");
            Assert.True(grad.abs().sum().item<float>() > 0, $"{name} has a zero gradient");
            Assert.True(grad.isfinite().all().item<bool>(), $"{name} has a non-finite gradient");
        }
    }

    [Theory]
    [MemberData(nameof(Networks))]
    public void Save_and_load_round_trip_weights_and_statistics_bit_for_bit(string network)
    {
        using var source = Build(network, 17);
        using var target = Build(network, 18);
        using var scope = NewDisposeScope();
        // A train-mode pass first, so that BatchNorm's running statistics are no longer their initial 0 and 1.
        Forward(source);
        byte[] saved = Save(source);
        Assert.NotEqual(saved, Save(target));

        using (var reader = new BinaryReader(new MemoryStream(saved), System.Text.Encoding.UTF8, leaveOpen: true))
            target.load(reader, strict: true);

        Assert.Equal(saved, Save(target));
        var expected = source.state_dict();
        var actual = target.state_dict();
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var key in expected.Keys)
            Assert.True(Same(expected[key], actual[key]), $"{key} differs");
        source.eval();
        target.eval();
        Assert.True(Same(Forward(source), Forward(target)));
    }

    private static byte[] Save(nn.Module module)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) module.save(writer);
        return stream.ToArray();
    }

    [Fact]
    public void State_dict_keys_are_stable()
    {
        // Checkpoints name every tensor by these keys: renaming a field breaks every saved checkpoint.
        using var g = BuildGenerator("dcgan", Classes, 19);
        AssertKeys(
        [
            "labelEmbedding.embedding.weight",
            "layers.linear.weight",
            "layers.norm0.weight", "layers.norm0.bias",
            "layers.norm0.running_mean", "layers.norm0.running_var", "layers.norm0.num_batches_tracked",
            "layers.deconv1.weight",
            "layers.norm1.weight", "layers.norm1.bias",
            "layers.norm1.running_mean", "layers.norm1.running_var", "layers.norm1.num_batches_tracked",
            "layers.deconv2.weight", "layers.deconv2.bias",
        ], g);

        using var d = BuildDiscriminator(19, Classes, "batch", minibatchKernels: 4, featureDim: 32);
        AssertKeys(
        [
            "body.conv1.weight", "body.conv1.bias",
            "body.conv2.weight",
            "body.norm2.weight", "body.norm2.bias",
            "body.norm2.running_mean", "body.norm2.running_var", "body.norm2.num_batches_tracked",
            "body.dense.weight", "body.dense.bias",
            "minibatch.weight",
            "head.weight", "head.bias",
            "projection.embedding.weight",
        ], d);

        using var l = BuildGenerator("lapgan", 0, 19);
        var level = new[]
        {
            "noise.weight", "noise.bias",
            "residual.conv1.weight",
            "residual.norm1.weight", "residual.norm1.bias",
            "residual.norm1.running_mean", "residual.norm1.running_var", "residual.norm1.num_batches_tracked",
            "residual.conv2.weight",
            "residual.norm2.weight", "residual.norm2.bias",
            "residual.norm2.running_mean", "residual.norm2.running_var", "residual.norm2.num_batches_tracked",
            "residual.conv3.weight", "residual.conv3.bias",
        };
        AssertKeys(
            new[]
            {
                "coarse.linear1.weight",
                "coarse.norm1.weight", "coarse.norm1.bias",
                "coarse.norm1.running_mean", "coarse.norm1.running_var", "coarse.norm1.num_batches_tracked",
                "coarse.linear2.weight", "coarse.linear2.bias",
            }.Concat(level.Select(k => "level1." + k)).Concat(level.Select(k => "level2." + k)),
            l);
    }
}
