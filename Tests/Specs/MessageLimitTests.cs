using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Specs;

/// <summary>Specs whose messages would not fit in one grain call are refused before anything starts.</summary>
public class MessageLimitTests
{
    private static string Digits => Path.Combine(TestSpecs.ExamplesDirectory, "digits-dcgan.json");

    [Fact]
    public void An_image_batch_too_large_for_one_grain_call_is_refused_naming_the_sizes_and_the_limit()
    {
        var e = Assert.Throws<SpecException>(() => SpecFile.Load(Digits, ["training.batchSize=16384", "training.dStepsPerGStep=2"]));
        var problem = Assert.Single(e.Problems, p => p.StartsWith("training: one step sends", StringComparison.Ordinal));
        Assert.Contains("49152 samples of 784 values", problem);
        Assert.Contains("147.0 MiB", problem);
        Assert.Contains("64.0 MiB", problem);
        Assert.Contains("lower training.batchSize or training.dStepsPerGStep", problem);
    }

    [Fact]
    public void Too_many_evaluation_images_for_one_grain_call_are_refused_with_the_largest_allowed_count()
    {
        var e = Assert.Throws<SpecException>(() => SpecFile.Load(Digits, ["evaluation.samples=30000"]));
        Assert.Contains(e.Problems, p => p.StartsWith("evaluation.samples: 30000 samples of 784 values", StringComparison.Ordinal) && p.EndsWith("at most 21399", StringComparison.Ordinal));
    }

    [Fact]
    public void The_largest_mixture_batches_and_the_shipped_examples_fit()
    {
        var ring = SpecFile.Load(Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"), ["training.batchSize=65536", "training.dStepsPerGStep=16", "evaluation.samples=1000000"]);
        Assert.Equal(65536, ring.Training.BatchSize);
        foreach (var file in Directory.GetFiles(TestSpecs.ExamplesDirectory, "*.json"))
        {
            var problems = new List<string>();
            MessageLimits.Check(SpecFile.Load(file, []), problems);
            Assert.Empty(problems);
        }
    }

    [Fact]
    public void Exported_weights_over_the_limit_are_a_clear_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => MessageLimits.EnsureFits(MessageLimits.MaxMessageBytes + 1, "the generator weights of m"));
        Assert.Contains("the generator weights of m is 64.0 MiB, over the 64.0 MiB", e.Message);
        MessageLimits.EnsureFits(MessageLimits.MaxMessageBytes, "exactly the limit");
    }
}
