using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Evaluation;

/// <summary>
/// How a batch of generated images scores under the digit classifier (see <see cref="ImageMetrics"/> for the definitions).
/// </summary>
public sealed record ImageEvaluation(int ClassesCovered, int ClassCount, double ClassKl, double ConfidentFraction, double FrechetDistance);

/// <summary>
/// Image metrics in the classifier's eyes, the digit analogue of the mixture metrics (modes ↔ classes):
/// <list type="bullet">
/// <item>each image's class is the classifier's arg-max; a class is <b>covered</b> when at least
/// <see cref="CoverageShare"/> (10 %) of its uniform share N / K of the images are predicted as it (and at least one);</item>
/// <item><b>class KL</b> is KL(q ‖ uniform) = Σ q_k log(K q_k) for q the histogram of predicted classes: 0 when every
/// class is equally frequent, log K when all images are one class;</item>
/// <item>the <b>confident fraction</b> is the share of images whose largest softmax probability is at least
/// <see cref="ConfidenceThreshold"/> (0.9): how many look clearly like some digit;</item>
/// <item>the <b>Fréchet distance</b> is between Gaussian fits of the classifier's 128 penultimate features on the
/// images and on all real images (FID with this classifier in place of Inception): ‖μ₁ − μ₂‖² + Tr S₁ + Tr S₂ −
/// 2 Tr √(S₁^½ S₂ S₁^½), in float64. It is biased upwards for small N (about 2,000 images keep it stable).</item>
/// </list>
/// Images with a non-finite logit (a diverged generator) count in N but are assigned no class and are not confident;
/// any non-finite feature makes the Fréchet distance +∞.
/// </summary>
public static class ImageScoring
{
    public const double CoverageShare = 0.1;
    public const double ConfidenceThreshold = 0.9;

    /// <summary>Scores <paramref name="images"/> [N ≥ 2, 1, 28, 28] in [−1, 1] against the classifier's real-image statistics.</summary>
    public static ImageEvaluation Evaluate(DigitClassifier classifier, Tensor images) =>
        Evaluate(classifier, images, classifier.ReferenceStatistics);

    /// <summary>Scores <paramref name="images"/> [N ≥ 2, 1, 28, 28] in [−1, 1] against the given reference statistics.</summary>
    public static ImageEvaluation Evaluate(DigitClassifier classifier, Tensor images, FeatureStatistics reference)
    {
        if (images.dim() < 1 || images.shape[0] < 2)
            throw new ArgumentException($"image metrics need at least 2 images, got [{string.Join(", ", images.shape)}]", nameof(images));
        using var scope = NewDisposeScope();
        var (logits, features) = classifier.Classify(images);
        int k = classifier.ClassCount;
        var logitValues = logits.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        long n = images.shape[0];

        var perClass = new long[k];
        long assigned = 0, confident = 0;
        var row = new double[k];
        for (long i = 0; i < n; i++)
        {
            Array.Copy(logitValues, i * k, row, 0, k);
            if (!row.All(double.IsFinite)) continue;
            assigned++;
            int best = 0;
            for (int c = 1; c < k; c++) if (row[c] > row[best]) best = c;
            perClass[best]++;
            // max softmax = 1 / Σ exp(l_c − l_max), computed without overflow.
            double partition = row.Sum(l => Math.Exp(l - row[best]));
            if (1 / partition >= ConfidenceThreshold) confident++;
        }

        double threshold = Math.Max(1, CoverageShare * n / k);
        int covered = perClass.Count(count => count >= threshold);
        double kl = double.PositiveInfinity;
        if (assigned > 0)
        {
            kl = 0;
            foreach (long count in perClass)
            {
                if (count == 0) continue;
                double q = (double)count / assigned;
                kl += q * Math.Log(q * k);
            }
        }

        double frechet = features.isfinite().all().item<bool>()
            ? FrechetDistance(FeatureStatistics.Of(features), reference)
            : double.PositiveInfinity;
        return new ImageEvaluation(covered, k, kl, (double)confident / n, frechet);
    }

    /// <summary>
    /// The Fréchet distance between two Gaussians N(μ₁, S₁) and N(μ₂, S₂):
    /// ‖μ₁ − μ₂‖² + Tr S₁ + Tr S₂ − 2 Tr √(S₁^½ S₂ S₁^½). Square roots of the symmetric matrices come from
    /// <c>linalg.eigh</c> with eigenvalues clamped at 0 (covariances are positive semi-definite up to rounding).
    /// </summary>
    public static double FrechetDistance(FeatureStatistics a, FeatureStatistics b)
    {
        if (a.Dimension != b.Dimension)
            throw new ArgumentException($"feature statistics of {a.Dimension} and {b.Dimension} dimensions cannot be compared");
        using var scope = NewDisposeScope();
        int d = a.Dimension;
        var mu1 = tensor(a.Mean, dtype: ScalarType.Float64);
        var mu2 = tensor(b.Mean, dtype: ScalarType.Float64);
        var s1 = tensor(a.Covariance, [d, d], dtype: ScalarType.Float64);
        var s2 = tensor(b.Covariance, [d, d], dtype: ScalarType.Float64);
        var diff = mu1 - mu2;
        var root1 = SymmetricSqrt(s1);
        var product = root1.matmul(s2).matmul(root1);
        // S₁^½ S₂ S₁^½ is symmetric positive semi-definite in exact arithmetic; symmetrise away the rounding.
        var traceOfRoot = linalg.eigh((product + product.t()) / 2).Item1.clamp_min(0).sqrt().sum();
        double distance = diff.dot(diff).item<double>() + s1.trace().item<double>() + s2.trace().item<double>()
            - 2 * traceOfRoot.item<double>();
        // Rounding can leave a tiny negative number for identical statistics.
        return Math.Max(0, distance);
    }

    private static Tensor SymmetricSqrt(Tensor symmetric)
    {
        var (eigenvalues, eigenvectors) = linalg.eigh((symmetric + symmetric.t()) / 2);
        return (eigenvectors * eigenvalues.clamp_min(0).sqrt().unsqueeze(0)).matmul(eigenvectors.t());
    }
}
