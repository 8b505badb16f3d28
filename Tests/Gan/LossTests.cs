using GanCluster.Gan.Specs;
using GanCluster.Gan.Losses;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public class LossTests
{
    private static double GeneratorGradient(string kind, float logit)
    {
        var loss = new GanLoss(new LossSpec { Generator = kind });
        using var x = tensor(new[] { logit }).requires_grad_(true);
        using var l = loss.Generator(x);
        using var g = autograd.grad([l], [x])[0];
        return g.item<float>();
    }

    [Fact]
    public void Minimax_gradient_vanishes_when_D_rejects_fakes_and_non_saturating_does_not()
    {
        // D(G(z)) = sigmoid(-10) ≈ 4.5e-5: D wins, as early in training.
        double minimax = GeneratorGradient("minimax", -10f);
        double nonSaturating = GeneratorGradient("non_saturating", -10f);
        Assert.True(Math.Abs(minimax) < 1e-4, $"minimax gradient {minimax}");
        Assert.True(Math.Abs(nonSaturating) > 0.99, $"non-saturating gradient {nonSaturating}");
        // Both push the logit up (towards "real"): the loss falls as the logit rises.
        Assert.True(minimax < 0 && nonSaturating < 0);
    }

    [Fact]
    public void The_two_generator_losses_share_their_fixed_point_direction_near_equilibrium()
    {
        // At D(G(z)) = 1/2 both gradients are -1/2: the losses differ only in how they weight failure.
        Assert.Equal(-0.5, GeneratorGradient("minimax", 0f), 5);
        Assert.Equal(-0.5, GeneratorGradient("non_saturating", 0f), 5);
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.1, 0.0)]
    [InlineData(0.1, 0.05)]
    public void Label_smoothing_sets_the_targets_real_one_minus_alpha_and_fake_beta(double alpha, double beta)
    {
        var loss = new GanLoss(new LossSpec { RealSmoothing = alpha, FakeSmoothing = beta });
        // The BCE of a logit is minimised where sigmoid(logit) equals the target: check the gradient vanishes there.
        double realLogit = alpha == 0 ? 30 : Math.Log((1 - alpha) / alpha);
        double fakeLogit = beta == 0 ? -30 : Math.Log(beta / (1 - beta));
        using var r = tensor(new[] { (float)realLogit }).requires_grad_(true);
        using var f = tensor(new[] { (float)fakeLogit }).requires_grad_(true);
        using var l = loss.Discriminator(r, f);
        var grads = autograd.grad([l], [r, f]);
        Assert.True(Math.Abs(grads[0].item<float>()) < 1e-5, $"real gradient {grads[0].item<float>()}");
        Assert.True(Math.Abs(grads[1].item<float>()) < 1e-5, $"fake gradient {grads[1].item<float>()}");
    }
}
