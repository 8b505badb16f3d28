using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Exchange;

public class ExchangeSpecTests
{
    private static string Ring8 => File.ReadAllText(Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"));

    [Fact]
    public void Alternating_is_the_default_and_exchange_is_accepted()
    {
        Assert.Equal("alternating", SpecLoader.Parse(Ring8).Training.Mode);
        var spec = SpecLoader.Parse(Ring8, ["training.mode=exchange", "training.exchangeEvery=20"]);
        Assert.Equal(("exchange", 20), (spec.Training.Mode, spec.Training.ExchangeEvery));
    }

    public static TheoryData<string[], string> Invalid => new()
    {
        { ["training.mode=parallel"], "training.mode: must be one of alternating, exchange, got 'parallel'" },
        { ["training.mode=exchange", "training.exchangeEvery=0"], "training.exchangeEvery: must be between 1 and 1000000, got 0" },
        { ["training.mode=exchange", "training.exchangeEvery=-3"], "training.exchangeEvery: must be between 1 and 1000000, got -3" },
        { ["training.exchangeEvery=5"], "training.exchangeEvery: applies to training.mode exchange only, not alternating (got 5)" },
        { ["training.mode=exchange", "training.exchangeEvery=\"often\""], "training.exchangeEvery: must be a whole number, got a string" },
        { ["training.mode=exchange", "training.order=g_first"], "training.order: g_first has no meaning in training.mode exchange" },
        { ["training.mode=exchange", "techniques.unrolledSteps=5"], "techniques.unrolledSteps: cannot be combined with training.mode exchange" },
        { ["training.mode=exchange", "techniques.featureMatching=true"], "techniques.featureMatching: cannot be combined with training.mode exchange" },
        // 4 layers of 8192² weights: 201 M parameters, 768 MiB, far beyond what one message may carry.
        { ["training.mode=exchange", "model.discriminator.width=8192", "model.discriminator.depth=4"], "training.mode: exchange sends the discriminator's weights in one message, and its 201,383,937 parameters take 768 MiB, above the 64 MiB" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Bad_exchange_settings_are_refused_with_the_field_named(string[] overrides, string expected)
    {
        var e = Assert.Throws<SpecException>(() => SpecLoader.Parse(Ring8, overrides));
        Assert.Contains(e.Problems, p => p.Contains(expected, StringComparison.Ordinal));
    }
}
