using System.Text.Json;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Losses;
using GanCluster.Gan.Networks;
using GanCluster.Gan.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>
/// The losses and techniques against an independent implementation: tools/reference/gan_reference.py (plain PyTorch,
/// written from the papers, float64) computed, for fixed weights and inputs, D's loss, its parameter gradients and its
/// Adam step, and G's loss and the gradient G receives, for every loss, label smoothing, WGAN-GP, feature matching,
/// minibatch discrimination and the unrolled surrogate; Tests/Fixtures/reference/*.json hold the results. Here the
/// same weights go into the project's own networks and the same quantities come out of the code paths training uses
/// (<see cref="DiscriminatorModel.Train"/>, its hand-written MLP passes and autograd, <see cref="GanLoss"/>,
/// <see cref="DiscriminatorModel.GradientPenalty(Tensor, Tensor, Tensor?, Tensor)"/>, <see cref="MinibatchDiscrimination"/>).
/// </summary>
public class ReferenceFixtureTests(ITestOutputHelper output)
{
    private const double AbsoluteTolerance = 1e-5;
    private const double RelativeTolerance = 1e-5;

    private static readonly string[] Files = ["mlp_losses.json", "minibatch_discrimination.json", "packing.json"];

    private static JsonElement Fixture(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot.Require(), "Tests", "Fixtures", "reference", file)));
        return doc.RootElement.Clone();
    }

    public static IEnumerable<object[]> Cases()
    {
        foreach (var file in Files)
            foreach (var c in Fixture(file).GetProperty("cases").EnumerateArray())
            {
                yield return [file, c.GetProperty("name").GetString()!];
            }
    }

    /// <summary>Real data that is always the fixture's real batch (the reference takes every real batch to be it).</summary>
    private sealed class FixedData(Tensor real) : IRealData
    {
        public long[] SampleShape => [real.shape[1]];
        public int ClassCount => 0;

        public (Tensor Samples, Tensor Classes) SampleWithClasses(int count, torch.Generator rng, Device device)
        {
            Assert.Equal(real.shape[0], count);
            return (real.clone().to(device), zeros(count, dtype: int64, device: device));
        }
    }

    private static Tensor T(JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(s => s.GetInt64()).ToArray();
        var data = e.GetProperty("data").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
        return tensor(data).reshape(shape);
    }

    private static GanSpec Spec(JsonElement fixture, JsonElement c)
    {
        var net = fixture.GetProperty("network");
        var opt = fixture.GetProperty("optimizer");
        var loss = c.GetProperty("loss");
        var mb = fixture.GetProperty("minibatch");
        Assert.Equal("leaky_relu", net.GetProperty("activation").GetString());
        Assert.Equal(0.2, net.GetProperty("negative_slope").GetDouble());
        Assert.Equal(1e-8, opt.GetProperty("eps").GetDouble());
        return new GanSpec
        {
            Seed = 1,
            Model = new ModelSpec
            {
                NoiseDim = 2,
                Discriminator = new NetworkSpec { Width = net.GetProperty("width").GetInt32(), Depth = net.GetProperty("depth").GetInt32(), Activation = "leaky_relu" },
            },
            Loss = new LossSpec
            {
                Kind = loss.GetProperty("kind").GetString()!,
                Generator = loss.GetProperty("generator").GetString()!,
                RealSmoothing = loss.GetProperty("real_smoothing").GetDouble(),
                FakeSmoothing = loss.GetProperty("fake_smoothing").GetDouble(),
                GradientPenalty = loss.GetProperty("gradient_penalty").GetDouble(),
                R1 = loss.TryGetProperty("r1", out var r1) ? r1.GetDouble() : 0,
            },
            Optimizer = new OptimizerSpec { DiscriminatorLr = opt.GetProperty("lr").GetDouble(), Beta1 = opt.GetProperty("beta1").GetDouble(), Beta2 = opt.GetProperty("beta2").GetDouble() },
            Training = new TrainingSpec { BatchSize = fixture.GetProperty("batch").GetInt32(), DStepsPerGStep = 1, Order = c.GetProperty("order").GetString()! },
            Techniques = new TechniquesSpec
            {
                FeatureMatching = c.GetProperty("feature_matching").GetBoolean(),
                UnrolledSteps = c.GetProperty("unrolled_steps").GetInt32(),
                Packing = fixture.TryGetProperty("packing", out var packing) ? packing.GetInt32() : 1,
                MinibatchDiscrimination = mb.ValueKind == JsonValueKind.Null
                    ? new MinibatchDiscriminationSpec()
                    : new MinibatchDiscriminationSpec { Kernels = mb.GetProperty("kernels").GetInt32(), KernelDim = mb.GetProperty("kernel_dim").GetInt32() },
            },
        };
    }

    /// <summary>Copies the fixture's weights into the module by parameter name; every name on both sides.</summary>
    private static void LoadWeights(nn.Module module, JsonElement weights)
    {
        var names = new List<string>();
        using (no_grad())
        {
            foreach (var (name, parameter) in module.named_parameters())
            {
                using var value = T(weights.GetProperty(name));
                parameter.copy_(value);
                names.Add(name);
            }
        }
        Assert.Equal(weights.EnumerateObject().Select(p => p.Name).Order(), names.Order());
    }

    private void Close(string what, Tensor actual, JsonElement expected)
    {
        using var e = T(expected);
        Assert.Equal(e.shape, actual.shape);
        using var a = actual.detach().cpu().to(float64);
        Close(what, a.data<double>().ToArray(), expected.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray());
    }

    private void Close(string what, double actual, double expected) => Close(what, new[] { actual }, new[] { expected });

    private void Close(string what, double[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            worst = Math.Max(worst, error);
            scale = Math.Max(scale, Math.Abs(expected[i]));
            Assert.True(error <= AbsoluteTolerance + RelativeTolerance * Math.Abs(expected[i]),
                $"{what}[{i}]: {actual[i]:R}, reference {expected[i]:R} (error {error:E2})");
        }
        output.WriteLine($"{what}: max abs error {worst:E2} (max |reference| {scale:G4})");
    }

    /// <summary>Per parameter, the slice of a flat buffer laid out in parameter order (FlatAdam's layout).</summary>
    private void CloseFlat(string what, nn.Module module, float[] flat, JsonElement expected)
    {
        long offset = 0;
        foreach (var (name, parameter) in module.named_parameters())
        {
            long n = parameter.numel();
            using var slice = tensor(flat.AsSpan((int)offset, (int)n).ToArray()).reshape(parameter.shape);
            Close($"{what} {name}", slice, expected.GetProperty(name));
            offset += n;
        }
        Assert.Equal(flat.Length, offset);
    }

    private void CloseParameters(string what, nn.Module module, JsonElement expected, Func<Tensor, Tensor> of)
    {
        foreach (var (name, parameter) in module.named_parameters()) Close($"{what} {name}", of(parameter), expected.GetProperty(name));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_schedule_step_matches_the_reference(string file, string caseName)
    {
        var fixture = Fixture(file);
        var c = fixture.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("name").GetString() == caseName);
        var expected = c.GetProperty("expected");
        var inputs = fixture.GetProperty("inputs");
        var spec = Spec(fixture, c);
        using var scope = NewDisposeScope();
        var real = T(inputs.GetProperty("real"));
        var fakeD = T(inputs.GetProperty("fake_d"));
        var fakeG = T(inputs.GetProperty("fake_g"));
        using var d = new DiscriminatorModel(spec, new FixedData(real), CPU);
        LoadWeights(d.Network, fixture.GetProperty("weights"));
        var loss = new GanLoss(spec.Loss);
        bool gp = loss.HasGradientPenalty;
        output.WriteLine($"{file} {caseName}");

        if (gp)
        {
            // D's step draws ε from D's data stream: the same objective at the fixture's ε, as DiscriminatorModel composes it.
            var network = d.Network;
            network.zero_grad();
            var critic = loss.Discriminator(network.Discriminate(real, null).Logits, network.Discriminate(fakeD, null).Logits);
            var penalty = d.GradientPenalty(real, fakeD, null, T(inputs.GetProperty("gp_epsilon")));
            var total = critic + loss.GradientPenaltyWeight * penalty;
            total.backward();
            Close("critic loss", critic.item<float>(), expected.GetProperty("d_loss_without_penalty").GetDouble());
            Close("gradient penalty", penalty.item<float>(), expected.GetProperty("gradient_penalty").GetDouble());
            Close("D loss", total.item<float>(), expected.GetProperty("d_loss").GetDouble());
            CloseParameters("dD/dθ", network, expected.GetProperty("d_grads"), p => p.grad!);
            network.zero_grad();
        }

        DiscriminatorStep step;
        if (spec.Training.Order == "d_first")
        {
            // Train is TrainSteps then FeedbackAfter; taken apart so that D's own gradients can be read in between
            // (an unrolled surrogate step writes the optimizer's gradient buffer again).
            var steps = d.TrainSteps(fakeD, null);
            CloseFlat("dD/dθ", d.Network, d.LastGradients(), expected.GetProperty("d_grads"));
            step = d.FeedbackAfter(steps, fakeG, null);
        }
        else
        {
            step = d.Train(fakeD, null, fakeG, null);
            if (!gp) CloseFlat("dD/dθ", d.Network, d.LastGradients(), expected.GetProperty("d_grads"));
        }
        Close("mean D(real)", step.MeanDReal, expected.GetProperty("mean_d_real").GetDouble());
        Close("mean D(fake)", step.MeanDFake, expected.GetProperty("mean_d_fake").GetDouble());
        Close("G loss", step.GLoss, expected.GetProperty("g_loss").GetDouble());
        Close("dG loss/dx", step.GeneratorGradient, expected.GetProperty("g_input_grad"));
        if (!gp)
        {
            Close("D loss", step.DLoss, expected.GetProperty("d_loss").GetDouble());
            double norm = Math.Sqrt(expected.GetProperty("d_grads").EnumerateObject()
                .SelectMany(p => p.Value.GetProperty("data").EnumerateArray()).Sum(v => v.GetDouble() * v.GetDouble()));
            Close("‖dD/dθ‖", step.GradNorm, norm);
            // After Adam's step (and, when unrolled, after the surrogate copy was put back): the reference's stepped D.
            CloseParameters("θ after the step", d.Network, expected.GetProperty("d_weights_after"), p => p);
        }
        step.GeneratorGradient.Dispose();
    }

    [Fact]
    public void The_minibatch_layer_matches_the_reference()
    {
        var fixture = Fixture("minibatch_discrimination.json");
        var layer = fixture.GetProperty("layer");
        var mb = fixture.GetProperty("minibatch");
        using var scope = NewDisposeScope();
        var features = T(layer.GetProperty("features")).requires_grad_(true);
        using var module = new MinibatchDiscrimination((int)features.shape[1], mb.GetProperty("kernels").GetInt32(), mb.GetProperty("kernel_dim").GetInt32());
        using (var weights = JsonDocument.Parse($"{{\"weight\": {layer.GetProperty("weight").GetRawText()}}}"))
            LoadWeights(module, weights.RootElement);
        var outputs = module.forward(features);
        Close("f ⊕ o", outputs, layer.GetProperty("output"));
        var o = outputs.narrow(1, features.shape[1], module.Kernels);
        var probe = (o * T(layer.GetProperty("probe"))).sum();
        probe.backward();
        Close("probe", probe.item<float>(), layer.GetProperty("probe_value").GetDouble());
        Close("dprobe/dT", module.parameters().Single().grad!, layer.GetProperty("grad_weight"));
        Close("dprobe/df", features.grad!, layer.GetProperty("grad_features"));
    }

    [Fact]
    public void A_minibatch_discriminator_scores_each_batch_as_the_reference_does()
    {
        var fixture = Fixture("minibatch_discrimination.json");
        var c = fixture.GetProperty("cases")[0];
        var spec = Spec(fixture, c);
        using var scope = NewDisposeScope();
        var inputs = fixture.GetProperty("inputs");
        using var d = new DiscriminatorModel(spec, new FixedData(T(inputs.GetProperty("real"))), CPU);
        LoadWeights(d.Network, fixture.GetProperty("weights"));
        using var _ = no_grad();
        foreach (var batch in fixture.GetProperty("logits").EnumerateObject())
            Close($"logits({batch.Name})", d.Network.Discriminate(T(inputs.GetProperty(batch.Name)), null).Logits, batch.Value);
    }
}
