using System.Globalization;
using System.Text.Json.Nodes;
using GanCluster.Gan.Training;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Sweeps;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Sweeps;

public class SearchSpaceTests
{
    private static SearchSpace Parse(string json, out List<string> problems)
    {
        problems = [];
        return SearchSpace.Parse(JsonNode.Parse(json)!.AsObject(), "search.space", problems);
    }

    private const string Mixed = """
        {
          "optimizer.generatorLr": { "logUniform": [0.0001, 0.01] },
          "optimizer.beta1": { "uniform": [0.0, 0.9] },
          "training.dStepsPerGStep": { "intRange": [1, 3] },
          "loss.generator": { "choice": ["minimax", "non_saturating"] }
        }
        """;

    [Fact]
    public void Grid_expansion_is_the_cartesian_product_of_the_discrete_dimensions()
    {
        var space = Parse("""{ "training.dStepsPerGStep": { "intRange": [1, 3] }, "loss.realSmoothing": { "choice": [0, 0.1] } }""", out var problems);
        var grid = space.Grid("search.space", problems);
        Assert.Empty(problems);
        Assert.Equal(6, grid.Count);
        Assert.Equal(6, grid.Select(SearchSpace.Describe).Distinct().Count());
        Assert.Contains(grid, p => p["training.dStepsPerGStep"] == "3" && p["loss.realSmoothing"] == "0.1");
        // Every grid point is a valid spec.
        foreach (var point in grid)
            Assert.NotNull(SpecLoader.Parse("{}", SearchSpace.Overrides(point)));
    }

    [Fact]
    public void Grid_search_refuses_continuous_ranges_naming_them()
    {
        var space = Parse(Mixed, out var problems);
        space.Grid("search.space", problems);
        Assert.Contains("search.space.optimizer.generatorLr: grid search needs choice or intRange values, not a continuous range", problems);
        Assert.Contains(problems, p => p.StartsWith("search.space.optimizer.beta1:", StringComparison.Ordinal));
    }

    [Fact]
    public void Random_samples_stay_within_bounds_and_repeat_by_seed()
    {
        var space = Parse(Mixed, out var problems);
        Assert.Empty(problems);
        var rng1 = new Random(42);
        var rng2 = new Random(42);
        for (int i = 0; i < 200; i++)
        {
            var p = space.Sample(rng1);
            Assert.Equal(SearchSpace.Describe(p), SearchSpace.Describe(space.Sample(rng2)));
            double lr = double.Parse(p["optimizer.generatorLr"], CultureInfo.InvariantCulture);
            Assert.InRange(lr, 1e-4, 1e-2);
            Assert.InRange(double.Parse(p["optimizer.beta1"], CultureInfo.InvariantCulture), 0.0, 0.9);
            Assert.InRange(long.Parse(p["training.dStepsPerGStep"], CultureInfo.InvariantCulture), 1, 3);
            Assert.Contains(p["loss.generator"], new[] { "\"minimax\"", "\"non_saturating\"" });
            Assert.NotNull(SpecLoader.Parse("{}", SearchSpace.Overrides(p)));
        }
        Assert.NotEqual(SearchSpace.Describe(space.Sample(new Random(1))), SearchSpace.Describe(space.Sample(new Random(2))));
    }

    [Fact]
    public void Explore_perturbs_continuous_values_by_the_factors_within_bounds()
    {
        var space = Parse(Mixed, out _);
        var current = new Dictionary<string, string>
        {
            ["optimizer.generatorLr"] = "0.001", ["optimizer.beta1"] = "0.5", ["training.dStepsPerGStep"] = "2", ["loss.generator"] = "\"minimax\"",
        };
        var rng = new Random(7);
        for (int i = 0; i < 100; i++)
        {
            var next = space.Explore(current, rng, [0.8, 1.2], resampleProbability: 0);
            double lr = double.Parse(next["optimizer.generatorLr"], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(lr - 0.0008) < 1e-12 || Math.Abs(lr - 0.0012) < 1e-12, $"lr {lr}");
            Assert.Equal("2", next["training.dStepsPerGStep"]);
            Assert.Equal("\"minimax\"", next["loss.generator"]);
        }
        // At the edge of its range a perturbed value is clamped.
        var edge = space.Explore(new Dictionary<string, string>(current) { ["optimizer.beta1"] = "0.9" }, new Random(3), [1.2], 0);
        Assert.Equal(0.9, double.Parse(edge["optimizer.beta1"], CultureInfo.InvariantCulture));
        // With resampling certain, every value is drawn afresh within bounds.
        var resampled = space.Explore(current, new Random(5), [0.8, 1.2], resampleProbability: 1);
        Assert.InRange(double.Parse(resampled["optimizer.generatorLr"], CultureInfo.InvariantCulture), 1e-4, 1e-2);
    }

    [Theory]
    [InlineData("""{ "optimizer.generatorLr": { "logUniform": [0, 0.1] } }""", "search.space.optimizer.generatorLr.logUniform: low must be greater than 0")]
    [InlineData("""{ "optimizer.beta1": { "uniform": [0.9, 0.1] } }""", "search.space.optimizer.beta1.uniform: must be [low, high] with low < high")]
    [InlineData("""{ "training.batchSize": { "intRange": [1.5, 3] } }""", "search.space.training.batchSize.intRange: must be [low, high], whole numbers")]
    [InlineData("""{ "loss.kind": { "choice": [] } }""", "search.space.loss.kind.choice: must be a non-empty list")]
    [InlineData("""{ "loss.kind": { "normal": [0, 1] } }""", "search.space.loss.kind: unknown kind 'normal'")]
    [InlineData("""{ "loss.kind": 3 }""", "search.space.loss.kind: must be an object with exactly one of")]
    public void A_malformed_dimension_is_refused_with_its_path(string json, string expected)
    {
        Parse(json, out var problems);
        Assert.Contains(problems, p => p.StartsWith(expected, StringComparison.Ordinal));
    }
}

/// <summary>PBT's exploit, at the level of the models: what a member loads from its donor.</summary>
public class ExploitTests
{
    private static byte[] Save(Action<BinaryWriter> save)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) save(writer);
        return stream.ToArray();
    }

    [Fact]
    public void An_exploit_copies_the_donor_s_weights_and_optimizer_state_bit_for_bit_and_takes_the_new_hyperparameters()
    {
        var donorSpec = TestSpecs.SmallRing(seed: 3);
        using var donor = new ReferenceLoop(donorSpec);
        donor.Run(25);
        byte[] g = Save(donor.Generator.Save), d = Save(donor.Discriminator.Save);

        // The recipient has its own seed and explored hyperparameters; it must not keep its own (stale) weights.
        var recipientSpec = donorSpec with
        {
            Seed = 99,
            Optimizer = donorSpec.Optimizer with { GeneratorLr = donorSpec.Optimizer.GeneratorLr * 1.2, DiscriminatorLr = donorSpec.Optimizer.DiscriminatorLr * 0.8 },
        };
        using var recipient = new ReferenceLoop(recipientSpec);
        Assert.NotEqual(donor.Generator.WeightBytes(), recipient.Generator.WeightBytes());
        recipient.Generator.Load(new BinaryReader(new MemoryStream(g)));
        recipient.Discriminator.Load(new BinaryReader(new MemoryStream(d)));

        Assert.Equal(donor.Generator.WeightBytes(), recipient.Generator.WeightBytes());
        Assert.Equal(donor.Discriminator.WeightBytes(), recipient.Discriminator.WeightBytes());
        Assert.Equal(recipientSpec.Optimizer.GeneratorLr, recipient.Generator.OptimizerHyperparameters.LearningRate, 12);
        Assert.Equal(recipientSpec.Optimizer.DiscriminatorLr, recipient.Discriminator.OptimizerHyperparameters.LearningRate, 12);

        // Optimizer state too: carried back into a model with the donor's hyperparameters, the saved state is the donor's, byte for byte.
        using var check = new ReferenceLoop(donorSpec);
        check.Generator.Load(new BinaryReader(new MemoryStream(Save(recipient.Generator.Save))));
        check.Discriminator.Load(new BinaryReader(new MemoryStream(Save(recipient.Discriminator.Save))));
        Assert.Equal(g, Save(check.Generator.Save));
        Assert.Equal(d, Save(check.Discriminator.Save));
    }
}

public class MedianStoppingTests
{
    [Theory]
    [InlineData(0.10, new[] { 0.5, 0.6, 0.7 }, 2000, true)]    // far below the median 0.6 (threshold 0.3)
    [InlineData(0.35, new[] { 0.5, 0.6, 0.7 }, 2000, false)]   // behind, but within factor·median
    [InlineData(0.10, new[] { 0.5, 0.6, 0.7 }, 500, false)]    // still in its grace steps
    [InlineData(0.10, new[] { 0.6 }, 2000, false)]             // too few others to judge
    [InlineData(-300.0, new[] { -100.0, -120.0, -90.0 }, 2000, true)]  // images: −FD, median −100, threshold −150
    [InlineData(-140.0, new[] { -100.0, -120.0, -90.0 }, 2000, false)]
    public void A_member_is_stopped_only_when_far_behind_the_median_at_its_step(double fitness, double[] others, long step, bool stop)
    {
        Assert.Equal(stop, GanCluster.Grains.Sweeps.MedianStopping.ShouldStop(fitness, others, step, graceSteps: 1000, factor: 0.5, minOthers: 2));
    }

    [Fact]
    public void Median_stopping_is_refused_under_PBT()
    {
        var spec = TestSpecs.SmallRing() with
        {
            Search = new GanCluster.Gan.Specs.SearchSpec
            {
                Strategy = "pbt", Concurrency = 4, MembersPerPopulation = 4,
                Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } },
                MedianStopping = new GanCluster.Gan.Specs.MedianStoppingSpec { Enabled = true },
            },
        };
        Assert.Contains(SpecValidator.Validate(spec), p => p.StartsWith("search.medianStopping: PBT replaces weak members itself", StringComparison.Ordinal));
    }
}
