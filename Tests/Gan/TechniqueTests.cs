using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Evaluation;
using GanCluster.Gan.Losses;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>Each technique changes what it should, and nothing else.</summary>
public class TechniqueTests
{
    private static double Scalar(Tensor t) { using (t) return t.item<float>(); }

    [Fact]
    public void Hinge_least_squares_and_wasserstein_losses_have_their_textbook_values()
    {
        using var real = tensor(new[] { 2f, 0f });
        using var fake = tensor(new[] { -2f, 0.5f });
        var hinge = new GanLoss(new LossSpec { Kind = "hinge" });
        // relu(1 − real) = [0, 1] → 0.5; relu(1 + fake) = [0, 1.5] → 0.75
        Assert.Equal(1.25, Scalar(hinge.Discriminator(real, fake)), 5);
        Assert.Equal(0.75, Scalar(hinge.Generator(fake)), 5);
        var ls = new GanLoss(new LossSpec { Kind = "least_squares" });
        // ½·mean((real − 1)²) = ½·(1 + 1)/2 = 0.5; ½·mean(fake²) = ½·(4 + 0.25)/2 = 1.0625
        Assert.Equal(1.5625, Scalar(ls.Discriminator(real, fake)), 5);
        Assert.Equal(0.5 * (9 + 0.25) / 2, Scalar(ls.Generator(fake)), 5);
        var w = new GanLoss(new LossSpec { Kind = "wasserstein_gp" });
        Assert.Equal(-0.75 - 1.0, Scalar(w.Discriminator(real, fake)), 5);
        Assert.Equal(0.75, Scalar(w.Generator(fake)), 5);
    }

    private static GanSpec LinearCritic => TestSpecs.SmallRing() with
    {
        Loss = new LossSpec { Kind = "wasserstein_gp", GradientPenalty = 10 },
        Model = new ModelSpec { NoiseDim = 2, Discriminator = new NetworkSpec { Depth = 0 } },
    };

    [Fact]
    public void The_gradient_penalty_is_zero_for_a_1_Lipschitz_critic_and_positive_otherwise()
    {
        var spec = LinearCritic;
        using var d = new DiscriminatorModel(spec, RealData.FromSpec(spec.Data), CPU);
        var weight = d.Network.parameters().First(p => p.dim() == 2);
        using var samples = new Generator(5);
        using var real = randn([64, 2], generator: samples);
        using var fake = randn([64, 2], generator: samples) * 3;
        using (no_grad()) weight.copy_(tensor(new[] { 0.6f, 0.8f }).reshape(1, 2)); // ‖w‖ = 1: D(x) = w·x + b is 1-Lipschitz
        Assert.Equal(0.0, Scalar(d.GradientPenalty(real, fake, null)), 6);
        using (no_grad()) weight.copy_(tensor(new[] { 1.2f, 1.6f }).reshape(1, 2)); // ‖w‖ = 2
        Assert.Equal(1.0, Scalar(d.GradientPenalty(real, fake, null)), 4);
    }

    [Theory]
    [InlineData("standard", "mlp")]
    [InlineData("hinge", "mlp")]
    [InlineData("least_squares", "mlp")]
    [InlineData("wasserstein_gp", "mlp")]
    [InlineData("wasserstein_gp", "dcgan")]
    [InlineData("hinge", "lapgan")]
    public void Every_loss_trains_every_architecture_a_few_steps_with_finite_losses(string kind, string architecture)
    {
        var spec = TestSpecs.SmallRing() with
        {
            Loss = new LossSpec { Kind = kind },
            Training = new TrainingSpec { BatchSize = 16, DStepsPerGStep = 2 },
            Techniques = new TechniquesSpec { FeatureMatching = architecture == "lapgan" },
        };
        if (architecture != "mlp")
            spec = spec with
            {
                Data = new DataSpec { Kind = "digits" },
                Model = new ModelSpec { Architecture = architecture, NoiseDim = 16, Generator = new NetworkSpec { Width = 8 }, Discriminator = new NetworkSpec { Width = 8, Normalization = "layer" } },
            };
        using var loop = new ReferenceLoop(spec);
        for (int i = 0; i < 3; i++)
        {
            var step = loop.Step();
            Assert.True(double.IsFinite(step.DLoss) && double.IsFinite(step.GLoss), $"{kind}/{architecture}: D {step.DLoss}, G {step.GLoss}");
        }
    }

    private static (byte[] Weights, float[] Gradient) OneDiscriminatorStep(GanSpec spec)
    {
        using var loop = new ReferenceLoop(spec);
        using var batch = loop.Generator.Sample(spec.Training.DStepsPerGStep);
        var result = loop.Discriminator.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
        using (result.GeneratorGradient)
            return (loop.Discriminator.WeightBytes(), result.GeneratorGradient.data<float>().ToArray());
    }

    [Fact]
    public void The_unrolled_G_step_leaves_D_as_after_one_step_but_changes_G_s_gradient()
    {
        var plain = TestSpecs.SmallRing();
        var unrolled = plain with { Techniques = new TechniquesSpec { UnrolledSteps = 5 } };
        var a = OneDiscriminatorStep(plain);
        var b = OneDiscriminatorStep(unrolled);
        Assert.Equal(a.Weights, b.Weights);
        Assert.NotEqual(a.Gradient, b.Gradient);
    }

    [Fact]
    public void Feature_matching_changes_G_s_gradient_and_not_D_s_step()
    {
        var plain = TestSpecs.SmallRing();
        var matching = plain with { Techniques = new TechniquesSpec { FeatureMatching = true } };
        var a = OneDiscriminatorStep(plain);
        var b = OneDiscriminatorStep(matching);
        Assert.Equal(a.Weights, b.Weights);
        Assert.NotEqual(a.Gradient, b.Gradient);
    }

    [Fact]
    public void G_first_takes_G_s_gradient_under_D_before_its_steps()
    {
        var spec = TestSpecs.SmallRing() with { Training = new TrainingSpec { BatchSize = 64, DStepsPerGStep = 3, Order = "g_first" } };
        var (_, gFirst) = OneDiscriminatorStep(spec);
        var (_, dFirst) = OneDiscriminatorStep(spec with { Training = spec.Training with { Order = "d_first" } });
        Assert.NotEqual(gFirst, dFirst);

        // The same gradient, computed by hand under the untrained D.
        using var loop = new ReferenceLoop(spec);
        using var batch = loop.Generator.Sample(3);
        using var leaf = batch.ForGenerator.detach().requires_grad_(true);
        var loss = new GanLoss(spec.Loss).Generator(loop.Discriminator.Network.Discriminate(leaf, null).Logits);
        var expected = autograd.grad([loss], [leaf])[0].data<float>().ToArray();
        // Equal up to float rounding , and told
        // apart from d_first's gradient, which D's three steps moved.
        Assert.True(Close(expected, gFirst), "g_first's gradient is not the one under the untrained D");
        Assert.False(Close(expected, dFirst), "d_first's gradient equals the one under the untrained D");
    }

    private static bool Close(float[] expected, float[] actual) =>
        expected.Length == actual.Length && expected.Zip(actual).All(p => Math.Abs(p.First - p.Second) <= 1e-9 + 1e-5 * Math.Abs(p.First));

    [Fact]
    public void K_discriminator_steps_per_G_step_train_D_k_times()
    {
        var one = TestSpecs.SmallRing() with { Training = new TrainingSpec { BatchSize = 64, DStepsPerGStep = 1 } };
        var three = one with { Training = one.Training with { DStepsPerGStep = 3 } };
        Assert.NotEqual(OneDiscriminatorStep(one).Weights, OneDiscriminatorStep(three).Weights);
    }

    [Fact]
    public void Conditional_samples_follow_their_labels_once_trained_briefly()
    {
        var spec = TestSpecs.SmallRing(steps: 600) with
        {
            Techniques = new TechniquesSpec { Conditional = true },
            Training = new TrainingSpec { BatchSize = 128 },
        };
        using var loop = new ReferenceLoop(spec);
        var data = (MixtureDataset)RealData.FromSpec(spec.Data);
        double Accuracy()
        {
            var (samples, labels) = loop.Generator.SampleForEvaluation(800);
            using (samples)
            using (labels)
            {
                var rows = MixtureTests.ToRows(samples);
                return MixtureEvaluation.Evaluate(data, rows, 10, labels!.data<long>().ToArray()).LabelAccuracy!.Value;
            }
        }
        double before = Accuracy();
        loop.Run(600);
        double after = Accuracy();
        Assert.True(after > 0.6, $"label accuracy after training {after:P1} (before {before:P1}, chance 12.5 %)");
        Assert.True(after > before + 0.3, $"label accuracy {before:P1} → {after:P1}");
    }
}
