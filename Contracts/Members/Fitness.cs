namespace GanCluster.Contracts.Members;

/// <summary>What sweeps rank members by, and what the reports and dashboards show as fitness.</summary>
public static class Fitness
{
    /// <summary>Mixtures: fraction of modes covered × high-quality fraction; images: −Fréchet distance; null before an evaluation.</summary>
    public static double? Of(MemberStatus status) =>
        status.Evaluation is { } e ? Of(e) : status.ImageEvaluation is { } i ? Of(i) : null;

    public static double Of(MixtureMetrics e) => (double)e.ModesCovered / e.ModesTotal * e.HighQualityFraction;

    /// <summary>−Fréchet distance, or null when the distance is not finite.</summary>
    public static double? Of(ImageMetrics i) => double.IsFinite(i.FrechetDistance) ? -i.FrechetDistance : null;

    /// <summary>The formula in words, for a sweep's status and leaderboard.</summary>
    public static string Describe(bool images) => images ? "−Fréchet distance" : "modes covered fraction × high-quality fraction";
}
