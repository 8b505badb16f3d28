using GanCluster.Grains.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Specs;

public class SpecValidationTests
{
    private static string Ring8 => File.ReadAllText(Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"));

    [Theory]
    [InlineData("ring8.json")]
    [InlineData("grid25.json")]
    [InlineData("gaussian1d.json")]
    public void The_shipped_examples_are_valid(string file)
    {
        var spec = SpecLoader.LoadFile(Path.Combine(TestSpecs.ExamplesDirectory, file));
        Assert.False(string.IsNullOrEmpty(spec.Name));
    }

    // Each invalid input, as --set overrides on the ring example, and the words its error must contain.
    public static TheoryData<string[], string> InvalidOverrides => new()
    {
        { ["training.batchSize=0"], "training.batchSize: must be between 1 and 65536, got 0" },
        { ["training.steps=-5"], "training.steps: must be between 1 and 1000000000, got -5" },
        { ["training.dStepsPerGStep=0"], "training.dStepsPerGStep: must be between 1 and 100, got 0" },
        { ["optimizer.generatorLr=0"], "optimizer.generatorLr: must be greater than 0" },
        { ["optimizer.discriminatorLr=5"], "optimizer.discriminatorLr: must be greater than 0 and at most 1, got 5" },
        { ["optimizer.beta1=1"], "optimizer.beta1: must be in [0, 1), got 1" },
        { ["optimizer.beta2=-0.1"], "optimizer.beta2: must be in [0, 1), got -0.1" },
        { ["optimizer.kind=sgd"], "optimizer.kind: must be one of adam, got 'sgd'" },
        { ["loss.generator=wasserstein"], "loss.generator: must be one of non_saturating, minimax, got 'wasserstein'" },
        { ["loss.realSmoothing=0.7"], "loss.realSmoothing: must be in [0, 0.5), got 0.7" },
        { ["loss.fakeSmoothing=-0.1"], "loss.fakeSmoothing: must be in [0, 0.5), got -0.1" },
        { ["data.kind=spiral"], "data.kind: must be one of ring, grid, gaussian1d, digits, idx, got 'spiral'" },
        { ["data.std=0"], "data.std: must be greater than 0" },
        { ["data.modes=0"], "data.modes: must be between 1 and 10000, got 0" },
        { ["data.kind=grid", "data.size=0"], "data.size: must be between 1 and 100, got 0" },
        { ["model.noiseDim=0"], "model.noiseDim: must be between 1 and 4096, got 0" },
        { ["model.noise=cauchy"], "model.noise: must be one of normal, uniform, got 'cauchy'" },
        { ["model.generator.width=0"], "model.generator.width: must be between 1 and 65536, got 0" },
        { ["model.discriminator.activation=gelu"], "model.discriminator.activation: must be one of relu, leaky_relu, tanh, got 'gelu'" },
        { ["evaluation.samples=10", "evaluation.minSamplesPerMode=20"], "evaluation.minSamplesPerMode: must not exceed evaluation.samples (10), got 20" },
        { ["checkpoint.every=0"], "checkpoint.every: must be between 1 and 1000000000, got 0" },
        { ["checkpoint.keep=0"], "checkpoint.keep: must be between 1 and 100, got 0" },
        { ["name=../../etc"], "name: must be 1-64 letters" },
        { ["device=tpu"], "device: must be one of auto, cpu, cuda, cuda:N, got 'tpu'" },
        { ["training.batchSize=65536", "training.dStepsPerGStep=100"], "training: batchSize × dStepsPerGStep must be at most 1048576" },
        // Shape errors: unknown fields, wrong JSON kinds.
        { ["training.stepz=10"], "training.stepz: unknown field (known fields of training: steps, batchSize, dStepsPerGStep, logEvery, order, maxLoss, mode, exchangeEvery)" },
        { ["colour=blue"], "colour: unknown field" },
        { ["training.steps=\"many\""], "training.steps: must be a whole number, got a string" },
        { ["training.steps=2.5"], "training.steps: must be a whole number" },
        { ["training.batchSize=99999999999"], "training.batchSize: 99999999999 is out of range for a whole number" },
        { ["optimizer.generatorLr=fast"], "optimizer.generatorLr: must be a number, got a string" },
        { ["data=3"], "data: must be an object, got a number" },
        { ["data.kind=null"], "data.kind: must not be null" },
        { ["steps"], "--set steps: expected PATH=VALUE" },
        // Techniques and their contradictions.
        { ["loss.kind=wasserstein"], "loss.kind: must be one of standard, hinge, least_squares, wasserstein_gp, got 'wasserstein'" },
        { ["loss.kind=hinge", "loss.realSmoothing=0.1"], "label smoothing applies to loss.kind standard only, not hinge" },
        { ["loss.gradientPenalty=-1"], "loss.gradientPenalty: must be between 0 and 1e6, got -1" },
        { ["loss.kind=wasserstein_gp", "techniques.minibatchDiscrimination.kernels=5"], "techniques.minibatchDiscrimination: cannot be combined with loss.kind wasserstein_gp" },
        { ["techniques.unrolledSteps=99"], "techniques.unrolledSteps: must be between 0 and 50, got 99" },
        { ["techniques.minibatchDiscrimination.kernelDim=0"], "techniques.minibatchDiscrimination.kernelDim: must be between 1 and 1024, got 0" },
        { ["techniques.conditional=1"], "techniques.conditional: must be true or false, got a number" },
        { ["training.order=random"], "training.order: must be one of d_first, g_first, got 'random'" },
        { ["model.architecture=resnet"], "model.architecture: must be one of mlp, dcgan, lapgan, got 'resnet'" },
        { ["model.architecture=dcgan"], "model.architecture: dcgan generates 28×28 images; mixtures (data.kind ring) need mlp" },
        { ["data.kind=digits"], "model.architecture: images (data.kind digits) need dcgan or lapgan, got mlp" },
        { ["data.kind=digits", "model.architecture=dcgan", "loss.kind=wasserstein_gp"], "model.discriminator.normalization: batch cannot be used with loss.kind wasserstein_gp" },
        { ["model.discriminator.normalization=instance"], "model.discriminator.normalization: must be one of batch, layer, none, got 'instance'" },
        { ["data.kind=idx", "model.architecture=dcgan"], "data.images: is required for data.kind idx" },
        { ["data.images=x.gz"], "data.images/labels: only data.kind idx reads files, not ring" },
    };

    [Theory]
    [MemberData(nameof(InvalidOverrides))]
    public void Each_invalid_field_is_refused_with_its_path_and_allowed_range(string[] overrides, string expected)
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.Parse(Ring8, overrides));
        Assert.Contains(e.Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_or_corrupt_idx_file_is_refused_with_its_field_and_path()
    {
        using var dir = new TempDirectory();
        string corrupt = Path.Combine(dir.Path, "corrupt-images-idx3-ubyte");
        File.WriteAllBytes(corrupt, [0, 0, 8, 3, 0, 0, 0, 5]);
        var spec = SpecLoader.Parse(Ring8, ["data.kind=idx", "model.architecture=dcgan", $"data.images={corrupt}", "data.labels=missing-labels-idx1-ubyte"]);
        var e = Assert.Throws<SpecException>(() => SpecLoader.CheckDataFiles(spec, dir.Path));
        Assert.Contains(e.Problems, p => p.StartsWith("data.images: ", StringComparison.Ordinal) && p.Contains("corrupt-images-idx3-ubyte"));
        Assert.Contains(e.Problems, p => p.StartsWith($"data.labels: file '{Path.Combine(dir.Path, "missing-labels-idx1-ubyte")}' does not exist", StringComparison.Ordinal));
    }

    [Fact]
    public void The_shipped_digits_resolve_and_the_image_examples_are_valid()
    {
        foreach (var file in new[] { "digits-dcgan.json", "digits-cdcgan.json" })
        {
            var spec = SpecLoader.LoadFile(Path.Combine(TestSpecs.ExamplesDirectory, file));
            Assert.Equal("dcgan", spec.Model.Architecture);
        }
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.Parse(Ring8, ["training.batchSize=0", "optimizer.beta1=2", "data.std=-1"]));
        Assert.Equal(3, e.Problems.Length);
    }

    [Theory]
    [InlineData("{ \"name\": ", "not valid JSON (line 1")]
    [InlineData("[1, 2]", "must be a JSON object")]
    [InlineData("{ \"training\": { \"steps\": 10 } \"x\": 1 }", "not valid JSON")]
    public void Malformed_json_is_refused_with_its_position(string json, string expected)
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.Parse(json));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_missing_spec_file_is_named()
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.LoadFile("/no/such/spec.json"));
        Assert.Contains("spec file '/no/such/spec.json' does not exist", e.Message);
    }

    [Fact]
    public void Overrides_change_the_spec_and_omitted_fields_take_defaults()
    {
        var spec = SpecLoader.Parse("{ \"name\": \"x\" }", ["training.steps=123", "loss.generator=minimax", "model.generator.width=16"]);
        Assert.Equal(123, spec.Training.Steps);
        Assert.Equal("minimax", spec.Loss.Generator);
        Assert.Equal(16, spec.Model.Generator.Width);
        Assert.Equal(512, spec.Training.BatchSize);
        Assert.Equal("ring", spec.Data.Kind);
    }

    [Fact]
    public void A_spec_round_trips_through_its_json_form()
    {
        var spec = SpecLoader.Parse(Ring8);
        Assert.Equal(spec, SpecLoader.Parse(SpecLoader.ToJson(spec)));
    }
}
