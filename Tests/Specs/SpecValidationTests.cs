using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Specs;

public class SpecValidationTests
{
    private static string Ring8 => File.ReadAllText(Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"));

    public static IEnumerable<object[]> Examples() =>
        Directory.EnumerateFiles(TestSpecs.ExamplesDirectory, "*.json").Order(StringComparer.Ordinal).Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(Examples))]
    public void The_shipped_examples_are_valid(string file)
    {
        var spec = SpecFile.Load(Path.Combine(TestSpecs.ExamplesDirectory, file));
        Assert.False(string.IsNullOrEmpty(spec.Name));
    }

    [Fact]
    public void The_content_hash_ignores_the_order_of_the_search_dimensions_but_not_their_values()
    {
        const string a = "\"optimizer.generatorLr\": { \"logUniform\": [0.0001, 0.003] }";
        const string b = "\"optimizer.beta1\": { \"uniform\": [0.0, 0.9] }";
        static GanSpec Sweep(string first, string second) => SpecLoader.Parse(
            $"{{ \"name\": \"s\", \"search\": {{ \"strategy\": \"random\", \"space\": {{ {first}, {second} }} }} }}");
        Assert.Equal(SpecLoader.ContentHash(Sweep(a, b)), SpecLoader.ContentHash(Sweep(b, a)));
        Assert.NotEqual(SpecLoader.ContentHash(Sweep(a, b)), SpecLoader.ContentHash(Sweep(a, b.Replace("0.9", "0.8", StringComparison.Ordinal))));
    }

    [Fact]
    public void The_experiments_recipe_row_is_the_shipped_recipe()
    {
        var shipped = SpecFile.Load(Path.Combine(TestSpecs.ExamplesDirectory, "grid25-recipe.json"));
        var row = SpecFile.Load(Path.Combine(TestSpecs.ExamplesDirectory, "grid25.json"), GanCluster.Client.Experiments.ModeCollapseExperiment.Recipe);
        Assert.Equal(SpecLoader.ToJson(shipped with { Name = "x", Training = row.Training, Evaluation = row.Evaluation, Checkpoint = row.Checkpoint }),
            SpecLoader.ToJson(row with { Name = "x" }));
    }

    // Every malformed input (syntax, unknown fields, wrong types, out-of-range and contradictory values, data files,
    // the device) is a row of the one table in BadInputTests, run through validate, run and the grains.

    [Fact]
    public void The_shipped_digits_resolve_and_the_image_examples_are_valid()
    {
        foreach (var file in new[] { "digits-dcgan.json", "digits-cdcgan.json" })
        {
            var spec = SpecFile.Load(Path.Combine(TestSpecs.ExamplesDirectory, file));
            Assert.Equal("dcgan", spec.Model.Architecture);
        }
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.Parse(Ring8, ["training.batchSize=0", "optimizer.beta1=2", "data.std=-1"]));
        Assert.Equal(3, e.Problems.Length);
    }

    [Fact]
    public void A_missing_spec_file_is_named()
    {
        var e = Assert.Throws<SpecException>(() => SpecFile.Load("/no/such/spec.json"));
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
