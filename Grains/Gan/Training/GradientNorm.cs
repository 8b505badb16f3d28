using static TorchSharp.torch;

namespace GanCluster.Grains.Gan.Training;

/// <summary>
/// The 2-norm over a network's gradients, computed exactly as <c>clip_grad_norm_</c> computes it (the norm of the
/// per-tensor norms), without its clamp and its scaling of every gradient by 1: the same number in fewer operations.
/// </summary>
public static class GradientNorm
{
    public static double Of(nn.Module network)
    {
        using var scope = NewDisposeScope();
        var norms = new List<Tensor>();
        foreach (var parameter in network.parameters())
            if (parameter.grad is { } grad) norms.Add(grad.norm());
        return norms.Count switch
        {
            0 => 0.0,
            1 => norms[0].item<float>(),
            _ => stack(norms).norm().item<float>(),
        };
    }
}
