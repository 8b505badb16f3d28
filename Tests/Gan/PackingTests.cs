using GanCluster.Gan.Data;
using GanCluster.Gan.Networks;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>PacGAN packing (techniques.packing): D scores tuples of m samples; everything else sees single samples.</summary>
public class PackingTests
{
    private static GanSpec Packed(int m, GanSpec? spec = null)
    {
        var s = spec ?? TestSpecs.SmallRing();
        return s with { Techniques = s.Techniques with { Packing = m } };
    }

    [Fact]
    public void A_packed_MLP_discriminator_scores_each_tuple_of_m_consecutive_samples()
    {
        using var scope = NewDisposeScope();
        using var d = new MlpDiscriminator(2, new NetworkSpec { Width = 16, Depth = 2 }, packing: 4);
        var x = randn(8, 2);
        var (logits, features) = d.Discriminate(x, null);
        Assert.Equal([2L], logits.shape);
        Assert.Equal(2, features.shape[0]);
        Assert.Equal(8, d.parameters().First().shape[1]); // the first layer takes 4 samples × 2 values
        // Changing a sample of the second tuple changes that tuple's score only.
        var changed = x.clone();
        changed[5] = tensor(new[] { 3f, -3f });
        var after = d.Discriminate(changed, null).Logits;
        Assert.Equal(logits[0].item<float>(), after[0].item<float>());
        Assert.NotEqual(logits[1].item<float>(), after[1].item<float>());
    }

    [Fact]
    public void A_packed_DCGAN_discriminator_stacks_the_images_of_a_tuple_as_channels()
    {
        using var scope = NewDisposeScope();
        using var d = new DcganDiscriminator(width: 8, classCount: 10, packing: 3);
        var images = rand(6, 1, 28, 28) * 2 - 1;
        var labels = arange(6, dtype: ScalarType.Int64) % 10;
        var (logits, _) = d.Discriminate(images, labels);
        Assert.Equal([2L], logits.shape);
        Assert.Equal(3, d.parameters().First().shape[1]); // conv1: 3 input channels
        Assert.Throws<ArgumentException>(() => d.Discriminate(rand(4, 1, 28, 28), arange(4, dtype: ScalarType.Int64)));
    }

    [Theory]
    [InlineData("standard", false)]
    [InlineData("hinge", false)]
    [InlineData("least_squares", true)]
    [InlineData("wasserstein_gp", false)]
    [InlineData("standard", true)]
    public void A_packed_GAN_trains_with_every_loss_and_conditional_and_G_gets_a_gradient_for_every_sample(string loss, bool conditional)
    {
        var spec = Packed(2, TestSpecs.SmallRing(steps: 5)) with { Loss = new LossSpec { Kind = loss, GradientPenalty = loss == "wasserstein_gp" ? 10 : 0 } };
        spec = spec with { Techniques = spec.Techniques with { Conditional = conditional } };
        SpecValidator.ThrowIfInvalid(spec);
        using var loop = new ReferenceLoop(spec);
        loop.Run(3);
        using var batch = loop.Generator.Sample(1);
        var step = loop.Discriminator.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
        using (step.GeneratorGradient)
        {
            Assert.Equal(batch.ForGenerator.shape, step.GeneratorGradient.shape);
            // Every sample of G's batch is in some tuple: each receives a gradient.
            Assert.True(step.GeneratorGradient.abs().sum(1).gt(0).all().item<bool>(), "a sample of G's batch got no gradient");
        }
        Assert.True(double.IsFinite(step.DLoss) && double.IsFinite(step.GLoss), $"{loss}: D loss {step.DLoss}, G loss {step.GLoss}");
    }

    [Fact]
    public void Evaluation_scores_whole_tuples_and_a_packed_member_survives_a_checkpoint()
    {
        var spec = Packed(3, TestSpecs.SmallRing(steps: 10) with { Training = TestSpecs.SmallRing().Training with { BatchSize = 96 } });
        using var loop = new ReferenceLoop(spec);
        loop.Run(4);
        var (samples, labels) = loop.Generator.SampleForEvaluation(100); // 100 is not a multiple of 3: 99 are scored
        using (samples)
        {
            var (real, fake) = loop.Discriminator.Score(samples, labels);
            Assert.InRange(real, 0, 1);
            Assert.InRange(fake, 0, 1);
        }
        using var saved = new MemoryStream();
        using (var writer = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) loop.Discriminator.Save(writer);
        using var restored = new DiscriminatorModel(spec, RealData.FromSpec(spec.Data), CPU);
        saved.Position = 0;
        using (var reader = new BinaryReader(saved)) restored.Load(reader);
        Assert.Equal(loop.Discriminator.WeightBytes(), restored.WeightBytes());
    }

    [Fact]
    public void Packing_is_refused_where_the_batch_does_not_split_into_tuples()
    {
        var notMultiple = Assert.Throws<SpecException>(() => SpecValidator.ThrowIfInvalid(Packed(3)));
        Assert.Contains("training.batchSize: must be a multiple of techniques.packing (3", notMultiple.Message);
        var zero = Assert.Throws<SpecException>(() => SpecValidator.ThrowIfInvalid(Packed(0)));
        Assert.Contains("techniques.packing", zero.Message);
    }
}
