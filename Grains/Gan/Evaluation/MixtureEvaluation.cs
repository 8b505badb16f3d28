using GanCluster.Gan.Data;

namespace GanCluster.Gan.Evaluation;

/// <summary>Each sample's nearest mode and its distance, in units of the data (not of std).</summary>
public sealed record ModeAssignment(int[] NearestMode, double[] Distance);

/// <summary>What a batch of samples scores on a mixture (<see cref="MixtureEvaluation.Evaluate"/>).</summary>
/// <param name="LabelAccuracy">Conditional GANs: fraction of samples whose nearest mode is the class they were generated for.</param>
/// <param name="ModesWithAnyHighQuality">VEEGAN's and PacGAN's rule: modes nearest to at least one high-quality sample.</param>
public sealed record MixtureScore(int ModesCovered, int ModesTotal, double HighQualityFraction, double ReverseKl, double? LabelAccuracy, int ModesWithAnyHighQuality);

/// <summary>
/// Mixture metrics as the mode-collapse literature (VEEGAN, PacGAN) computes them: a sample is high quality when it
/// lies within 3 std of its nearest mode; a mode is covered when it holds at least minSamplesPerMode high-quality
/// samples (this project's rule; VEEGAN's and PacGAN's released code count a mode with one high-quality sample, which
/// the score carries too); reverse KL is KL(q ‖ uniform) for q the histogram of samples over their nearest modes.
/// </summary>
public static class MixtureEvaluation
{
    public static ModeAssignment Assign(MixtureDataset data, float[][] samples)
    {
        var nearest = new int[samples.Length];
        var distance = new double[samples.Length];
        for (int s = 0; s < samples.Length; s++)
        {
            double best = double.PositiveInfinity;
            int bestMode = 0;
            for (int m = 0; m < data.ModeCount; m++)
            {
                double d2 = 0;
                for (int k = 0; k < data.Dimension; k++)
                {
                    double diff = samples[s][k] - data.ModeCenters[m][k];
                    d2 += diff * diff;
                }
                if (d2 < best) { best = d2; bestMode = m; }
            }
            nearest[s] = bestMode;
            // NaN samples stay NaN here and count as neither high quality nor covering a mode.
            distance[s] = Math.Sqrt(best);
        }
        return new ModeAssignment(nearest, distance);
    }

    /// <param name="labels">Conditional GANs: the class each sample was generated for; the result then carries the
    /// fraction of samples whose nearest mode is that class.</param>
    public static MixtureScore Evaluate(MixtureDataset data, float[][] samples, int minSamplesPerMode, long[]? labels = null)
    {
        if (samples.Length == 0) throw new ArgumentException("cannot evaluate zero samples", nameof(samples));
        var assignment = Assign(data, samples);
        double threshold = 3 * data.Std;
        var highQualityPerMode = new int[data.ModeCount];
        var perMode = new int[data.ModeCount];
        int highQuality = 0, finite = 0;
        for (int s = 0; s < samples.Length; s++)
        {
            if (!double.IsFinite(assignment.Distance[s])) continue;
            finite++;
            perMode[assignment.NearestMode[s]]++;
            if (assignment.Distance[s] <= threshold)
            {
                highQuality++;
                highQualityPerMode[assignment.NearestMode[s]]++;
            }
        }
        int covered = highQualityPerMode.Count(n => n >= minSamplesPerMode);
        double reverseKl = 0;
        if (finite > 0)
        {
            foreach (int n in perMode)
            {
                if (n == 0) continue;
                double q = (double)n / finite;
                reverseKl += q * Math.Log(q * data.ModeCount);
            }
        }
        else
        {
            reverseKl = double.PositiveInfinity;
        }
        double? labelAccuracy = null;
        if (labels is not null)
        {
            if (labels.Length != samples.Length) throw new ArgumentException($"{labels.Length} labels for {samples.Length} samples", nameof(labels));
            labelAccuracy = (double)Enumerable.Range(0, samples.Length).Count(i => double.IsFinite(assignment.Distance[i]) && assignment.NearestMode[i] == labels[i]) / samples.Length;
        }
        return new MixtureScore(covered, data.ModeCount, (double)highQuality / samples.Length, reverseKl, labelAccuracy,
            highQualityPerMode.Count(n => n > 0));
    }
}
