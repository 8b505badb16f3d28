using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Tests.Support;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

/// <summary>The hand-written MLP passes against autograd, from the same weights and the same batches.</summary>
public sealed class HandMlpTests
{
    public static TheoryData<string, string, string, bool, int> Cases => new()
    {
        // activation, loss kind, generator loss, conditional, k
        { "relu", "standard", "non_saturating", false, 1 },
        { "relu", "standard", "minimax", true, 2 },
        { "leaky_relu", "hinge", "non_saturating", false, 1 },
        { "tanh", "least_squares", "non_saturating", true, 1 },
        { "leaky_relu", "wasserstein_gp", "non_saturating", false, 1 }, // gradient penalty 0: a plain critic
    };

    private static GanSpec Spec(string activation, string kind, string generatorLoss, bool conditional, int k, string order = "d_first")
    {
        var spec = TestSpecs.SmallRing();
        return spec with
        {
            Model = spec.Model with
            {
                Generator = spec.Model.Generator with { Activation = activation },
                Discriminator = spec.Model.Discriminator with { Activation = activation },
            },
            Loss = spec.Loss with { Kind = kind, Generator = generatorLoss, GradientPenalty = 0, RealSmoothing = 0.1, FakeSmoothing = 0.05 },
            Techniques = spec.Techniques with { Conditional = conditional },
            Training = spec.Training with { DStepsPerGStep = k, Order = order },
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_discriminator_step_and_the_feedback_match_autograd(string activation, string kind, string generatorLoss, bool conditional, int k)
    {
        // g_first: the feedback is taken before D's update, so both take it under the same weights.
        var spec = Spec(activation, kind, generatorLoss, conditional, k, order: "g_first");
        var data = RealData.FromSpec(spec.Data);
        using var g = new GeneratorModel(spec, data, CPU, handBackprop: false);
        using var byHand = new DiscriminatorModel(spec, data, CPU, handBackprop: true);
        using var byAutograd = new DiscriminatorModel(spec, data, CPU, handBackprop: false);
        Assert.True(byHand.UsesHandBackprop);
        Assert.False(byAutograd.UsesHandBackprop);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            using var batch = g.Sample(k);
            var a = byHand.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
            var b = byAutograd.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
            Close(b.GeneratorGradient.data<float>().ToArray(), a.GeneratorGradient.data<float>().ToArray(), $"feedback, step {step}");
            Close(byAutograd.LastGradients(), byHand.LastGradients(), $"D's gradients, step {step}");
            Assert.Equal(b.DLoss, a.DLoss, 1e-4 + 1e-3 * Math.Abs(b.DLoss));
            Assert.Equal(b.GLoss, a.GLoss, 1e-4 + 1e-3 * Math.Abs(b.GLoss));
            Assert.Equal(b.MeanDReal, a.MeanDReal, 1e-4 + 1e-3 * Math.Abs(b.MeanDReal));
            Assert.Equal(b.MeanDFake, a.MeanDFake, 1e-4 + 1e-3 * Math.Abs(b.MeanDFake));
            Assert.Equal(b.GradNorm, a.GradNorm, 1e-4 + 1e-3 * Math.Abs(b.GradNorm));
            g.ApplyGradient(b.GeneratorGradient);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_generator_batch_and_step_match_autograd(string activation, string kind, string generatorLoss, bool conditional, int k)
    {
        var spec = Spec(activation, kind, generatorLoss, conditional, k);
        var data = RealData.FromSpec(spec.Data);
        using var byHand = new GeneratorModel(spec, data, CPU, handBackprop: true);
        using var byAutograd = new GeneratorModel(spec, data, CPU, handBackprop: false);
        Assert.True(byHand.UsesHandBackprop);
        using var gradients = new Generator(3);
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            using var a = byHand.Sample(k);
            using var b = byAutograd.Sample(k);
            Close(b.ForDiscriminator.data<float>().ToArray(), a.ForDiscriminator.data<float>().ToArray(), $"D's fakes, step {step}");
            Close(b.ForGenerator.data<float>().ToArray(), a.ForGenerator.data<float>().ToArray(), $"G's batch, step {step}");
            var gradient = randn(a.ForGenerator.shape, generator: gradients) / 100;
            double normA = byHand.ApplyGradient(gradient), normB = byAutograd.ApplyGradient(gradient);
            Close(byAutograd.LastGradients(), byHand.LastGradients(), $"G's gradients, step {step}");
            Assert.Equal(normB, normA, 1e-4 + 1e-3 * Math.Abs(normB));
        }
    }

    [Fact]
    public void Networks_that_need_autograd_keep_it()
    {
        var ring = TestSpecs.SmallRing();
        var data = RealData.FromSpec(ring.Data);
        var penalty = ring with { Loss = ring.Loss with { Kind = "wasserstein_gp", GradientPenalty = 10 } };
        var minibatch = ring with { Techniques = ring.Techniques with { MinibatchDiscrimination = new MinibatchDiscriminationSpec { Kernels = 4 } } };
        using (var d = new DiscriminatorModel(penalty, data, CPU)) Assert.False(d.UsesHandBackprop);
        using (var d = new DiscriminatorModel(minibatch, data, CPU)) Assert.False(d.UsesHandBackprop);
        using (var d = new DiscriminatorModel(ring, data, CPU)) Assert.True(d.UsesHandBackprop);
        using (var g = new GeneratorModel(ring, data, CPU)) Assert.True(g.UsesHandBackprop);
    }

    [Theory]
    [InlineData("relu")]
    [InlineData("leaky_relu")]
    [InlineData("tanh")]
    public void A_row_pass_in_blocks_equals_one_forward_and_backward_over_all_rows_bit_for_bit(string activation)
    {
        manual_seed(11);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        TorchSharp.Modules.Linear[] layers = [nn.Linear(3, 16), nn.Linear(16, 16), nn.Linear(16, 2)];
        using var optimizer = new FlatAdam(layers.SelectMany(l => l.parameters()), 1e-3, 0.5, 0.999);
        using var mlp = HandMlp.For((layers, activation), optimizer)!;
        var x = randn(64, 3);
        var gradient = randn(64, 2);

        var kept = new List<Tensor>();
        var output = mlp.Forward(x, kept);
        mlp.Backward(kept, gradient, parameterGradients: true, inputGradient: false);
        var whole = optimizer.GradientBuffer.data<float>().ToArray();
        optimizer.GradientBuffer.zero_();

        // The second block's rows before the first: a block does not depend on the others.
        var pass = mlp.Pass(64);
        pass.Forward(x.narrow(0, 40, 24), 40);
        pass.Backward(gradient.narrow(0, 40, 24), 40);
        pass.Forward(x.narrow(0, 0, 40), 0);
        pass.Backward(gradient.narrow(0, 0, 40), 0);
        pass.ParameterGradients();

        Assert.Equal(output.data<float>().ToArray(), pass.Output.data<float>().ToArray());
        Assert.Contains(whole, v => v != 0);
        Assert.Equal(whole, optimizer.GradientBuffer.data<float>().ToArray());
    }

    [Theory]
    [InlineData(2, 512)]
    [InlineData(2, 1024)]
    [InlineData(3, 512)]
    [InlineData(8, 1024)]
    [InlineData(1, 512)]
    [InlineData(16, 1024)]
    public void A_layers_weight_gradient_is_the_one_product_of_its_output_gradient_and_inputs_bit_for_bit(int inputs, int rows)
    {
        // Layers with 2 to 8 inputs take it the other way round (xᵀ·g, copied across): the bits must not change.
        manual_seed(5);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        TorchSharp.Modules.Linear[] layers = [nn.Linear(inputs, 128)];
        using var optimizer = new FlatAdam(layers.SelectMany(l => l.parameters()), 1e-3, 0.5, 0.999);
        using var mlp = HandMlp.For((layers, "relu"), optimizer)!;
        var x = randn(rows, inputs);
        var gradient = randn(rows, 128);
        var kept = new List<Tensor>();
        mlp.Forward(x, kept);
        mlp.Backward(kept, gradient, parameterGradients: true, inputGradient: false);

        var expected = zeros(128, inputs).addmm_(gradient.t(), x, beta: 0, alpha: 1);
        var written = optimizer.GradientBufferFor(layers[0].weight!);
        Assert.Equal(expected.data<float>().ToArray(), written.data<float>().ToArray());
        Assert.Contains(expected.data<float>().ToArray(), v => v != 0);
    }

    public static TheoryData<string, string, bool, int> StandardCases => new()
    {
        // activation, generator loss, conditional, k
        { "relu", "non_saturating", false, 1 },
        { "leaky_relu", "minimax", true, 2 },
        { "tanh", "non_saturating", false, 1 },
    };

    [Theory]
    [MemberData(nameof(StandardCases))]
    public void A_prepared_discriminator_step_equals_the_step_computed_whole_bit_for_bit(string activation, string generatorLoss, bool conditional, int k)
    {
        var spec = Spec(activation, "standard", generatorLoss, conditional, k);
        var data = RealData.FromSpec(spec.Data);
        using var g = new GeneratorModel(spec, data, CPU);
        using var prepared = new DiscriminatorModel(spec, data, CPU);
        using var whole = new DiscriminatorModel(spec, data, CPU);
        for (int step = 0; step < 4; step++)
        {
            using var scope = NewDisposeScope();
            Assert.True(prepared.PrepareNextStep());
            Assert.True(prepared.Prepared);
            Assert.False(prepared.PrepareNextStep()); // once per step
            using var batch = g.Sample(k);
            var a = prepared.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
            var b = whole.Train(batch.ForDiscriminator, batch.DiscriminatorLabels, batch.ForGenerator, batch.GeneratorLabels);
            Assert.False(prepared.Prepared);
            Assert.Equal(b.GeneratorGradient.data<float>().ToArray(), a.GeneratorGradient.data<float>().ToArray());
            Assert.Equal(whole.LastGradients(), prepared.LastGradients());
            Assert.Equal((b.DLoss, b.GLoss, b.MeanDReal, b.MeanDFake, b.GradNorm), (a.DLoss, a.GLoss, a.MeanDReal, a.MeanDFake, a.GradNorm));
            g.ApplyGradient(b.GeneratorGradient);
        }
        Assert.Equal(whole.WeightBytes(), prepared.WeightBytes());
    }

    [Fact]
    public void A_checkpoint_taken_with_a_prepared_step_equals_one_taken_without_and_training_goes_on_the_same()
    {
        var spec = Spec("relu", "standard", "non_saturating", conditional: false, k: 1);
        var data = RealData.FromSpec(spec.Data);
        using var g = new GeneratorModel(spec, data, CPU);
        using var prepared = new DiscriminatorModel(spec, data, CPU);
        using var whole = new DiscriminatorModel(spec, data, CPU);
        using (var batch = g.Sample(1))
        {
            prepared.Train(batch.ForDiscriminator, null, batch.ForGenerator, null).GeneratorGradient.Dispose();
            whole.Train(batch.ForDiscriminator, null, batch.ForGenerator, null).GeneratorGradient.Dispose();
        }
        Assert.True(prepared.PrepareNextStep());
        Assert.Equal(Checkpoint(whole), Checkpoint(prepared));
        Assert.False(prepared.Prepared); // the data stream went back: the next step is computed whole
        using (var batch = g.Sample(1))
        {
            prepared.Train(batch.ForDiscriminator, null, batch.ForGenerator, null).GeneratorGradient.Dispose();
            whole.Train(batch.ForDiscriminator, null, batch.ForGenerator, null).GeneratorGradient.Dispose();
        }
        Assert.Equal(whole.WeightBytes(), prepared.WeightBytes());

        // A loaded state drops a prepared step (its weights and data stream are the loaded ones).
        Assert.True(prepared.PrepareNextStep());
        using (var reader = new BinaryReader(new MemoryStream(Checkpoint(whole)))) prepared.Load(reader);
        Assert.False(prepared.Prepared);
        Assert.Equal(Checkpoint(whole), Checkpoint(prepared));
    }

    [Fact]
    public void Only_hand_written_standard_loss_d_first_steps_are_prepared()
    {
        var data = RealData.FromSpec(TestSpecs.SmallRing().Data);
        using (var d = new DiscriminatorModel(Spec("relu", "standard", "non_saturating", false, 1), data, CPU)) Assert.True(d.PrepareNextStep());
        using (var d = new DiscriminatorModel(Spec("relu", "standard", "non_saturating", false, 1, order: "g_first"), data, CPU)) Assert.False(d.PrepareNextStep());
        using (var d = new DiscriminatorModel(Spec("relu", "hinge", "non_saturating", false, 1), data, CPU)) Assert.False(d.PrepareNextStep());
        using (var d = new DiscriminatorModel(Spec("relu", "standard", "non_saturating", false, 1), data, CPU, handBackprop: false)) Assert.False(d.PrepareNextStep());
    }

    private static byte[] Checkpoint(DiscriminatorModel d)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) d.Save(writer);
        return stream.ToArray();
    }

    /// <summary>Equal within float rounding: |a − b| ≤ 1e-5 + 1e-3·|b| element by element.</summary>
    private static void Close(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.Contains(expected, v => v != 0); // a vacuous comparison of zeros would prove nothing
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 + 1e-3 * Math.Abs(expected[i]),
                $"{what}: element {i} is {actual[i]} by hand and {expected[i]} by autograd");
    }
}
