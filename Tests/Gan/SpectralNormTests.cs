using System.Text.Json;
using GanCluster.Gan.Data;
using GanCluster.Gan.Networks;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>
/// techniques.spectralNorm: against PyTorch's own torch.nn.utils.spectral_norm (Tests/Fixtures/reference/spectral_norm.json,
/// written by tools/reference/gan_reference.py), then wired into both discriminators and carried by checkpoints.
/// </summary>
public class SpectralNormTests
{
    private const double Tolerance = 1e-5;

    private static JsonElement Fixture()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Require(), "Tests", "Fixtures", "reference", "spectral_norm.json")));
        return doc.RootElement.Clone();
    }

    private static Tensor T(JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(s => s.GetInt64()).ToArray();
        var data = e.GetProperty("data").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
        return tensor(data).reshape(shape);
    }

    private static void Close(JsonElement expected, Tensor actual, string what)
    {
        var want = T(expected);
        Assert.Equal(want.shape, actual.shape);
        var a = actual.detach().data<float>().ToArray();
        var w = want.data<float>().ToArray();
        for (int i = 0; i < w.Length; i++)
            Assert.True(Math.Abs(a[i] - w[i]) <= Tolerance * (1 + Math.Abs(w[i])), $"{what}[{i}]: {a[i]} against PyTorch's {w[i]}");
    }

    public static IEnumerable<object[]> Cases() => Fixture().GetProperty("cases").EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_spectrally_normalised_layer_matches_PyTorch(string name)
    {
        using var scope = NewDisposeScope();
        var c = Fixture().GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        var weight = T(c.GetProperty("weight"));
        var layer = (SpectralNorm)(c.GetProperty("kind").GetString() == "linear"
            ? SpectralNorm.Linear(weight.shape[1], weight.shape[0], spectral: true)
            : SpectralNorm.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2], c.GetProperty("stride")[0].GetInt64(), c.GetProperty("padding")[0].GetInt64(), spectral: true));
        var parameters = layer.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var buffers = layer.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        using (no_grad())
        {
            parameters["layer.weight"].copy_(weight);
            parameters["layer.bias"].copy_(T(c.GetProperty("bias")));
            buffers["u"].copy_(T(c.GetProperty("u0")));
            buffers["v"].copy_(T(c.GetProperty("v0")));
        }
        var x = T(c.GetProperty("input"));
        layer.train();
        layer.forward(x);
        var output = layer.forward(x);
        Close(c.GetProperty("output"), output, "output");
        Close(c.GetProperty("u"), buffers["u"], "u");
        Close(c.GetProperty("v"), buffers["v"], "v");
        Assert.Equal(c.GetProperty("sigma").GetDouble(), layer.Sigma(), 4);
        (output * T(c.GetProperty("probe"))).sum().backward();
        Close(c.GetProperty("grad_weight"), parameters["layer.weight"].grad!, "gradient of the weight");
        Close(c.GetProperty("grad_bias"), parameters["layer.bias"].grad!, "gradient of the bias");
        layer.eval();
        using (no_grad()) Close(c.GetProperty("eval_output"), layer.forward(x), "evaluation output");
    }

    private static GanSpec WithSpectralNorm(GanSpec spec) => spec with { Techniques = spec.Techniques with { SpectralNorm = true } };

    [Fact]
    public void Every_layer_of_either_discriminator_is_normalised_and_G_is_not()
    {
        using var mlp = new MlpDiscriminator(2, new NetworkSpec { Width = 16, Depth = 3 }, spectralNorm: true);
        Assert.Equal(4, mlp.modules().OfType<SpectralNorm>().Count()); // three hidden layers and the head
        using var maxout = new MlpDiscriminator(2, new NetworkSpec { Width = 8, Depth = 2, Maxout = 3 }, packing: 2, spectralNorm: true);
        Assert.Equal(3, maxout.modules().OfType<SpectralNorm>().Count());
        using var conv = new DcganDiscriminator(width: 8, spectralNorm: true);
        Assert.Equal(3, conv.modules().OfType<SpectralNorm>().Count()); // conv1, conv2, head
        var spec = WithSpectralNorm(TestSpecs.SmallRing());
        using var g = NetworkFactory.Generator(spec, RealData.FromSpec(spec.Data));
        Assert.Empty(g.modules().OfType<SpectralNorm>());
    }

    [Fact]
    public void Training_keeps_each_normalised_weight_at_spectral_norm_one_and_a_checkpoint_carries_u_and_v()
    {
        var spec = WithSpectralNorm(TestSpecs.SmallRing(steps: 30));
        SpecValidator.ThrowIfInvalid(spec);
        using var loop = new ReferenceLoop(spec);
        loop.Run(30);
        using var saved = new MemoryStream();
        using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) loop.Discriminator.Save(writer);
        using var restored = new DiscriminatorModel(spec, RealData.FromSpec(spec.Data), CPU);
        saved.Position = 0;
        using (var reader = new BinaryReader(saved)) restored.Load(reader);
        Assert.Equal(loop.Discriminator.WeightBytes(), restored.WeightBytes());
        // uᵀ W v with unit u, v never exceeds the largest singular value: the estimate approaches it from below.
        foreach (var (name, layer) in restored.Network.named_modules().Where(m => m.module is SpectralNorm).Select(m => (m.name, (SpectralNorm)m.module)))
        {
            var w = layer.named_parameters().Single(p => p.name == "layer.weight").parameter.detach();
            double exact = linalg.matrix_norm(w.flatten(1), ord: 2).item<float>();
            Assert.InRange(layer.Sigma(), 0.3 * exact, exact * (1 + 1e-4));
        }
    }

    [Fact]
    public void Repeated_training_forwards_converge_on_the_largest_singular_value_so_the_layer_has_norm_one()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var layer = (SpectralNorm)SpectralNorm.Linear(24, 16, spectral: true);
        var w = layer.named_parameters().Single(p => p.name == "layer.weight").parameter.detach();
        double exact = linalg.matrix_norm(w, ord: 2).item<float>();
        layer.train();
        using (no_grad()) for (int i = 0; i < 300; i++) layer.forward(randn(2, 24));
        Assert.Equal(exact, layer.Sigma(), 3);
        // The layer now computes with W / σ: its map (bias aside) has spectral norm 1.
        layer.eval();
        using (no_grad())
        {
            var eye = torch.eye(24);
            var map = layer.forward(eye) - layer.forward(zeros(1, 24));
            Assert.Equal(1.0, linalg.matrix_norm(map, ord: 2).item<float>(), 3);
        }
    }

    [Fact]
    public void The_spec_switch_reads_from_JSON()
    {
        var spec = SpecLoader.Parse("""{ "techniques": { "spectralNorm": true } }""");
        Assert.True(spec.Techniques.SpectralNorm);
    }
}
