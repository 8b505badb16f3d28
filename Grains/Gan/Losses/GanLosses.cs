using GanCluster.Gan.Specs;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace GanCluster.Gan.Losses;

/// <summary>
/// The adversarial losses, on D's raw outputs (logits for the standard loss):
/// <list type="bullet">
/// <item>standard (Goodfellow et al. 2014): D maximises log D(x) + log(1 − D(G(z))), as binary cross-entropy with real
/// labelled 1 − α and fake 0 + β (label smoothing, Salimans et al. 2016); G either minimises log(1 − D(G(z)))
/// (minimax) or maximises log D(G(z)) (non-saturating);</item>
/// <item>hinge (Lim &amp; Ye 2017; Miyato et al. 2018): D minimises relu(1 − D(x)) + relu(1 + D(G(z))), G minimises −D(G(z));</item>
/// <item>least_squares (Mao et al. 2017): D minimises ½(D(x) − 1)² + ½D(G(z))², G minimises ½(D(G(z)) − 1)²;</item>
/// <item>wasserstein_gp (Gulrajani et al. 2017): the critic minimises D(G(z)) − D(x) (+ λ·gradient penalty, added by
/// the discriminator model, which owns the network), G minimises −D(G(z)).</item>
/// </list>
/// </summary>
public sealed class GanLoss(LossSpec spec)
{
    public bool HasGradientPenalty => spec.Kind == "wasserstein_gp" && spec.GradientPenalty > 0;
    public double GradientPenaltyWeight => spec.GradientPenalty;

    public Tensor Discriminator(Tensor real, Tensor fake) => spec.Kind switch
    {
        "standard" => StandardDiscriminator(real, fake),
        "hinge" => relu(1 - real).mean() + relu(1 + fake).mean(),
        "least_squares" => 0.5 * (real - 1).square().mean() + 0.5 * fake.square().mean(),
        "wasserstein_gp" => fake.mean() - real.mean(),
        _ => throw new ArgumentException($"loss.kind: unknown loss '{spec.Kind}'"),
    };

    private Tensor StandardDiscriminator(Tensor realLogits, Tensor fakeLogits)
    {
        using var realTarget = full_like(realLogits, 1.0 - spec.RealSmoothing);
        using var fakeTarget = full_like(fakeLogits, spec.FakeSmoothing);
        return binary_cross_entropy_with_logits(realLogits, realTarget) + binary_cross_entropy_with_logits(fakeLogits, fakeTarget);
    }

    /// <summary>
    /// minimax: log(1 − D(G(z))) = −softplus(logit), whose gradient vanishes when D confidently rejects fakes;
    /// non_saturating: −log D(G(z)) = softplus(−logit), strong exactly then.
    /// </summary>
    public Tensor Generator(Tensor fake) => spec.Kind switch
    {
        "standard" => spec.Generator switch
        {
            // log σ(·) forms: stable for large logits, and no Scalar arguments crossing into libtorch per call.
            "minimax" => logsigmoid(-fake).mean(),
            "non_saturating" => -logsigmoid(fake).mean(),
            _ => throw new ArgumentException($"loss.generator: unknown generator loss '{spec.Generator}' (minimax, non_saturating)"),
        },
        "hinge" or "wasserstein_gp" => -fake.mean(),
        "least_squares" => 0.5 * (fake - 1).square().mean(),
        _ => throw new ArgumentException($"loss.kind: unknown loss '{spec.Kind}'"),
    };

    /// <summary>Feature matching: ‖E f(x) − E f(G(z))‖² over D's last hidden features (Salimans et al. 2016 §3.1).</summary>
    public static Tensor FeatureMatching(Tensor realFeatures, Tensor fakeFeatures) =>
        (realFeatures.detach().mean([0]) - fakeFeatures.mean([0])).square().sum();
}
