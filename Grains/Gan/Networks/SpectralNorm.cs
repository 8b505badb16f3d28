using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Gan.Networks;

/// <summary>
/// Spectral normalisation (Miyato et al. 2018): the wrapped Linear or Conv2d computes with W / σ(W), σ its largest
/// singular value, estimated by one step of power iteration per training forward (u and v persist as buffers, so they
/// are checkpointed and the estimate sharpens over training). The gradient flows through σ, as in the paper and
/// PyTorch's torch.nn.utils.spectral_norm; evaluation mode reuses the last u, v. The wrapped layer keeps its own
/// parameters (the unnormalised W and the bias), so the optimiser and initialisation see an ordinary layer.
/// </summary>
public sealed class SpectralNorm : Module<Tensor, Tensor>
{
    private const double Eps = 1e-12;
    private readonly Module<Tensor, Tensor> layer;
    private readonly Tensor u;
    private readonly Tensor v;
    private readonly long stride;
    private readonly long padding;

    private SpectralNorm(Module<Tensor, Tensor> layer, long rows, long columns, long stride = 1, long padding = 0) : base("spectral_norm")
    {
        this.layer = layer;
        this.stride = stride;
        this.padding = padding;
        using var _ = no_grad();
        u = functional.normalize(randn(rows), dim: 0, eps: Eps);
        v = functional.normalize(randn(columns), dim: 0, eps: Eps);
        register_module("layer", layer);
        register_buffer("u", u);
        register_buffer("v", v);
    }

    /// <summary>A Linear of W / σ(W) when <paramref name="spectral"/>, else a plain Linear.</summary>
    public static Module<Tensor, Tensor> Linear(long inputs, long outputs, bool spectral, bool hasBias = true)
    {
        var linear = nn.Linear(inputs, outputs, hasBias);
        return spectral ? new SpectralNorm(linear, outputs, inputs) : linear;
    }

    /// <summary>A square-kernel Conv2d of W / σ(W) (W seen as out × in·k·k) when <paramref name="spectral"/>.</summary>
    public static Module<Tensor, Tensor> Conv2d(long inputs, long outputs, long kernel, long stride, long padding, bool spectral, bool bias = true)
    {
        var conv = nn.Conv2d(inputs, outputs, kernel, stride, padding, bias: bias);
        return spectral ? new SpectralNorm(conv, outputs, inputs * kernel * kernel, stride, padding) : conv;
    }

    /// <summary>The current estimate of σ(W) (no power-iteration step).</summary>
    public double Sigma()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return u.dot(Matrix().mv(v)).item<float>();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var w = Matrix();
        if (training)
        {
            using var _ = no_grad();
            v.copy_(functional.normalize(w.t().mv(u), dim: 0, eps: Eps));
            u.copy_(functional.normalize(w.mv(v), dim: 0, eps: Eps));
        }
        // σ = uᵀ W v with u, v held fixed (as torch.nn.utils.spectral_norm does): the gradient flows through W only.
        // Copies, because the next training forward updates the buffers in place before this one's backward runs.
        var sigma = u.clone().dot(w.mv(v.clone()));
        Tensor result = layer switch
        {
            TorchSharp.Modules.Linear linear => functional.linear(x, linear.weight! / sigma, linear.bias),
            TorchSharp.Modules.Conv2d conv => functional.conv2d(x, conv.weight! / sigma, conv.bias, strides: [stride, stride], padding: [padding, padding]),
            _ => throw new InvalidOperationException($"spectral norm wraps Linear and Conv2d, not {layer.GetType().Name}"),
        };
        return result.MoveToOuterDisposeScope();
    }

    private Tensor Matrix() => layer switch
    {
        TorchSharp.Modules.Linear linear => linear.weight!,
        TorchSharp.Modules.Conv2d conv => conv.weight!.flatten(1),
        _ => throw new InvalidOperationException($"spectral norm wraps Linear and Conv2d, not {layer.GetType().Name}"),
    };
}
