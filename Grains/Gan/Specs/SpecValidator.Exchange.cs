
namespace GanCluster.Gan.Specs;

public static partial class SpecValidator
{
    public static readonly string[] TrainingModes = ["alternating", "exchange"];

    /// <summary>
    /// Exchange mode moves each network's weights in one grain message: above this a message would pass Orleans'
    /// default MaxMessageBodySize (100 MiB) with its framing, which fails badly (a misleading SiloUnavailableException).
    /// </summary>
    public const long MaxExchangedWeightBytes = 64L << 20;

    /// <summary>training.mode and training.exchangeEvery, and what exchange mode cannot be combined with.</summary>
    private static void Exchange(List<string> p, GanSpec spec)
    {
        bool othersValid = p.Count == 0;
        var t = spec.Training;
        if (t is null) return;
        OneOf(p, "training.mode", t.Mode, TrainingModes);
        Range(p, "training.exchangeEvery", t.ExchangeEvery, 1, 1_000_000);
        if (t.Mode != "exchange")
        {
            if (t.Mode == "alternating" && t.ExchangeEvery != 1)
                p.Add($"training.exchangeEvery: applies to training.mode exchange only, not alternating (got {t.ExchangeEvery})");
            return;
        }
        if (t.Order == "g_first")
            p.Add("training.order: g_first has no meaning in training.mode exchange, where G and D step at the same time; use d_first or alternating mode");
        if (spec.Techniques is { } q)
        {
            if (q.UnrolledSteps > 0)
                p.Add("techniques.unrolledSteps: cannot be combined with training.mode exchange (unrolling advances D with its optimizer, which the generator's shadow copy of D does not hold); use alternating mode");
            if (q.FeatureMatching)
                p.Add("techniques.featureMatching: cannot be combined with training.mode exchange (it needs real samples through D's features on the generator's side); use alternating mode");
        }
        if (!othersValid) return;
        var footprint = ModelFootprint.Estimate(spec);
        foreach (var (role, parameters) in new[] { ("generator", footprint.GeneratorParameters), ("discriminator", footprint.DiscriminatorParameters) })
        {
            long bytes = parameters * ModelFootprint.BytesPerValue;
            if (bytes > MaxExchangedWeightBytes)
                p.Add($"training.mode: exchange sends the {role}'s weights in one message, and its {parameters:N0} parameters take " +
                      $"{bytes / (1024.0 * 1024):F0} MiB, above the {MaxExchangedWeightBytes >> 20} MiB a message may carry; use alternating mode (its traffic scales with the batch, not the model)");
        }
    }
}
