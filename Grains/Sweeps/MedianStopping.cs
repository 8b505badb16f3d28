namespace GanCluster.Grains.Sweeps;

/// <summary>The median stopping rule (Golovin et al. 2017, Google Vizier), on fitness where higher is better.</summary>
public static class MedianStopping
{
    /// <summary>
    /// True when <paramref name="fitness"/> at <paramref name="step"/> is below median − factor·|median| of the other
    /// members' fitness at the same step, past the grace steps and with enough others to compare against.
    /// </summary>
    public static bool ShouldStop(double fitness, IReadOnlyCollection<double> othersAtStep, long step, long graceSteps, double factor, int minOthers)
    {
        if (step < graceSteps || othersAtStep.Count < minOthers || !double.IsFinite(fitness)) return false;
        var sorted = othersAtStep.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length < minOthers) return false;
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return fitness < median - factor * Math.Abs(median);
    }
}
