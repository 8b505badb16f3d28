using GanCluster.Contracts.Specs;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace GanCluster.Grains.Gan.Losses;

/// <summary>
/// The losses of Goodfellow et al. (2014) on D's logits. D maximises log D(x) + log(1 − D(G(z))), written as binary
/// cross-entropy with real labelled 1 − α and fake 0 + β (label smoothing, Salimans et al. 2016).
/// </summary>
public sealed class GanLoss(LossSpec spec)
{
    public Tensor Discriminator(Tensor realLogits, Tensor fakeLogits)
    {
        using var realTarget = full_like(realLogits, 1.0 - spec.RealSmoothing);
        using var fakeTarget = full_like(fakeLogits, spec.FakeSmoothing);
        return binary_cross_entropy_with_logits(realLogits, realTarget) + binary_cross_entropy_with_logits(fakeLogits, fakeTarget);
    }

    /// <summary>
    /// minimax: G minimises log(1 − D(G(z))) = −softplus(logit), whose gradient vanishes when D confidently rejects
    /// fakes; non_saturating: G minimises −log D(G(z)) = softplus(−logit), strong exactly then.
    /// </summary>
    public Tensor Generator(Tensor fakeLogits) => spec.Generator switch
    {
        "minimax" => -softplus(fakeLogits).mean(),
        "non_saturating" => softplus(-fakeLogits).mean(),
        _ => throw new ArgumentException($"loss.generator: unknown generator loss '{spec.Generator}' (minimax, non_saturating)"),
    };
}
