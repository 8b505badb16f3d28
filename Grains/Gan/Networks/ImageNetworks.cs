using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Gan.Networks;

/// <summary>
/// DCGAN generator (Radford et al. 2015) for 28×28 grayscale: z [B, noiseDim] → Linear → [B, 2w, 7, 7] → two
/// stride-2 transposed convolutions → [B, 1, 28, 28] in [−1, 1] (tanh). Conditional (classCount &gt; 0): a learned
/// class embedding of classCount dimensions is concatenated to z.
/// </summary>
public sealed class DcganGenerator : GeneratorNetwork
{
    private readonly ConditionalEmbedding? labelEmbedding;
    private readonly Sequential layers;

    public int NoiseDim { get; }
    public int ClassCount { get; }

    public DcganGenerator(int noiseDim, int width = 64, int classCount = 0) : base("generator")
    {
        ImageShapes.Check(noiseDim, width, classCount);
        NoiseDim = noiseDim;
        ClassCount = classCount;
        // Concatenated before a Linear, a class vector acts as a learned per-class bias of the first layer: classCount
        // dimensions can express anything a one-hot could.
        if (classCount > 0) labelEmbedding = new ConditionalEmbedding(classCount, classCount);
        int inputs = noiseDim + classCount;
        // No bias before a BatchNorm: its shift β makes one redundant.
        layers = Sequential(
            ("linear", Linear(inputs, 2L * width * 49, hasBias: false)),       // [B, 2w·49]
            ("unflatten", Unflatten(1, [2L * width, 7, 7])),                   // [B, 2w, 7, 7]
            ("norm0", BatchNorm2d(2L * width)),
            ("act0", ReLU()),
            ("deconv1", ConvTranspose2d(2L * width, width, 4, 2, 1, bias: false)), // [B, w, 14, 14]
            ("norm1", BatchNorm2d(width)),
            ("act1", ReLU()),
            ("deconv2", ConvTranspose2d(width, 1, 4, 2, 1)),                   // [B, 1, 28, 28]
            ("tanh", Tanh()));
        DcganInit.Apply(layers);
        RegisterComponents();
    }

    public override Tensor Generate(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var input = labelEmbedding is null ? z : labelEmbedding.Concat(z, ConditionalEmbedding.Require(labels, "generator"));
        return layers.forward(input).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// DCGAN discriminator for 28×28 grayscale: [B, 1, 28, 28] → Conv 4×4/2 → [B, w, 14, 14] → Conv 4×4/2 → [B, 2w, 7, 7]
/// → the features φ(x) [B, 2w·49] (or [B, featureDim] through one more Linear) → [minibatch discrimination] → Linear →
/// one logit. Flat [B, 784] rows are taken as images too.
/// </summary>
/// <remarks>
/// Conditional (classCount &gt; 0) through the projection discriminator (Miyato &amp; Koyama 2018): logit += ⟨embed(y), φ(x)⟩.
/// Chosen over an extra label channel because the class enters as an inner product with the features, which is the
/// form the optimal D takes for a log-linear p(y|x) and which Miyato &amp; Koyama found more stable and better than
/// concatenation; it leaves the conv stack and the features label-free (feature matching compares the same φ for every
/// class), and costs classCount·F parameters.
/// </remarks>
public sealed class DcganDiscriminator : DiscriminatorNetwork
{
    private readonly Sequential body;
    private readonly MinibatchDiscrimination? minibatch;
    private readonly Module<Tensor, Tensor> head;
    private readonly ConditionalEmbedding? projection;
    private readonly int packing;

    /// <summary>F, the width of the features returned by <see cref="Discriminate"/>.</summary>
    public int FeatureCount { get; }
    public int ClassCount { get; }
    public string Normalization { get; }

    /// <param name="normalization">
    /// After the second convolution: "batch" (DCGAN; mixes the samples of a batch, so a sample's logit depends on its
    /// batch in train mode, and the WGAN-GP penalty, a per-sample gradient, is then ill-defined), "layer" (per sample
    /// over C×H×W with a per-channel scale and shift, what WGAN-GP recommends) or "none".
    /// </param>
    /// <param name="minibatchKernels">Kernels of minibatch discrimination before the head; 0 for none.</param>
    /// <param name="featureDim">0: the features are the flattened conv output (2w·49); otherwise a Linear + LeakyReLU to
    /// this width first (a smaller F makes minibatch discrimination's T, F × kernels·kernelDim, much cheaper).</param>
    /// <param name="packing">PacGAN's m: D scores m images at once, stacked as channels; 1 is off.</param>
    /// <param name="spectralNorm">Every convolution, the dense layer and the head compute with W / σ(W) (<see cref="SpectralNorm"/>).</param>
    public DcganDiscriminator(int width = 64, int classCount = 0, string normalization = "batch",
        int minibatchKernels = 0, int minibatchKernelDim = 5, int featureDim = 0, int packing = 1, bool spectralNorm = false) : base("discriminator")
    {
        ImageShapes.Check(1, width, classCount);
        if (packing < 1) throw new ArgumentOutOfRangeException(nameof(packing), packing, "techniques.packing: must be 1 (off) or more");
        this.packing = packing;
        if (minibatchKernels < 0) throw new ArgumentOutOfRangeException(nameof(minibatchKernels), minibatchKernels, "must be 0 (off) or more");
        if (featureDim < 0) throw new ArgumentOutOfRangeException(nameof(featureDim), featureDim, "must be 0 (flattened conv output) or more");
        ClassCount = classCount;
        Normalization = normalization;

        var modules = new List<(string, Module<Tensor, Tensor>)>
        {
            ("conv1", SpectralNorm.Conv2d(packing, width, 4, 2, 1, spectralNorm)),        // [B/m, w, 14, 14]
            ("act1", LeakyReLU(0.2)),
            ("conv2", SpectralNorm.Conv2d(width, 2L * width, 4, 2, 1, spectralNorm, bias: normalization == "none")), // [B, 2w, 7, 7]
        };
        switch (normalization)
        {
            case "batch": modules.Add(("norm2", BatchNorm2d(2L * width))); break;
            // GroupNorm with one group normalises each sample over C×H×W (layer norm) with a per-channel affine.
            case "layer": modules.Add(("norm2", GroupNorm(1, 2L * width))); break;
            case "none": break;
            default:
                throw new ArgumentException($"model.discriminator.normalization: unknown normalization '{normalization}' (batch, layer, none)", nameof(normalization));
        }
        modules.Add(("act2", LeakyReLU(0.2)));
        modules.Add(("flatten", Flatten()));                                              // [B, 2w·49]
        FeatureCount = 2 * width * 49;
        if (featureDim > 0)
        {
            modules.Add(("dense", SpectralNorm.Linear(FeatureCount, featureDim, spectralNorm))); // [B, featureDim]
            modules.Add(("act3", LeakyReLU(0.2)));
            FeatureCount = featureDim;
        }
        body = Sequential(modules);

        int headInputs = FeatureCount;
        if (minibatchKernels > 0)
        {
            minibatch = new MinibatchDiscrimination(FeatureCount, minibatchKernels, minibatchKernelDim);
            headInputs = minibatch.OutputFeatures(FeatureCount);                          // [B, F + kernels]
        }
        head = SpectralNorm.Linear(headInputs, 1, spectralNorm);                          // [B, 1]
        if (classCount > 0) projection = new ConditionalEmbedding(classCount, FeatureCount, std: DcganInit.Std);
        DcganInit.Apply(body);
        DcganInit.Apply(head);
        RegisterComponents();
    }

    public override (Tensor Logits, Tensor Features) Discriminate(Tensor x, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var features = body.forward(Packing.Pack(ImageShapes.AsImages(x), packing));
        var hidden = minibatch is null ? features : minibatch.forward(features);
        var logits = head.forward(hidden).squeeze(-1);
        if (projection is not null)
            logits = logits + projection.Project(features, ConditionalEmbedding.Require(labels, "discriminator"), packing);
        return (logits.MoveToOuterDisposeScope(), features.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// A coarse-to-fine generator in the spirit of LAPGAN (Denton et al. 2015): level 0 makes a 7×7 image from z; levels 1
/// and 2 each upsample the coarser image (bilinear) and add a residual, made by a small conv net from the upsampled
/// image and a noise map derived from z, to reach 14×14 and then 28×28. Each level therefore learns only the detail
/// its coarser level lacks. Conditional: the class embedding joins z wherever z is used (level 0 and every noise map).
/// </summary>
/// <remarks>
/// The pyramid lives before the output nonlinearity: a_0 = G_0(z), a_k = up(a_{k−1}) + r_k(up(a_{k−1}), z), and the
/// image is tanh(a_2). Tanh of the sum rather than a clamp: a clamp's gradient is zero outside [−1, 1], so a pixel the
/// levels overshoot stops learning, while tanh keeps a gradient everywhere and matches the DCGAN output and the data's
/// [−1, 1] range. Bilinear rather than nearest: nearest leaves 2×2 blocks that every residual would first have to undo.
/// </remarks>
public sealed class LapganGenerator : GeneratorNetwork
{
    private readonly ConditionalEmbedding? labelEmbedding;
    private readonly Sequential coarse;
    private readonly LaplacianLevel level1;
    private readonly LaplacianLevel level2;

    public int NoiseDim { get; }
    public int ClassCount { get; }

    public LapganGenerator(int noiseDim, int width = 64, int classCount = 0) : base("generator")
    {
        ImageShapes.Check(noiseDim, width, classCount);
        NoiseDim = noiseDim;
        ClassCount = classCount;
        if (classCount > 0) labelEmbedding = new ConditionalEmbedding(classCount, classCount);
        int code = noiseDim + classCount;
        coarse = Sequential(
            ("linear1", Linear(code, 4L * width, hasBias: false)),   // [B, 4w]
            ("norm1", BatchNorm1d(4L * width)),
            ("act1", ReLU()),
            ("linear2", Linear(4L * width, 49)),                    // [B, 49]
            ("unflatten", Unflatten(1, [1, 7, 7])));                // [B, 1, 7, 7]
        level1 = new LaplacianLevel(code, width, 14);
        // Channels halve as the resolution doubles, as in DCGAN: at w channels the 28×28 level alone would cost four
        // times the 14×14 one (about 2 GMAC of 3×3 convolutions per batch of 64 at w = 64).
        level2 = new LaplacianLevel(code, Math.Max(1, width / 2), 28);
        DcganInit.Apply(coarse);
        RegisterComponents();
    }

    public override Tensor Generate(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var pyramid = Pyramid(z, labels);
        return pyramid[^1].tanh().MoveToOuterDisposeScope();       // [B, 1, 28, 28]
    }

    /// <summary>
    /// The levels before the output tanh: [B, 1, 7, 7], [B, 1, 14, 14], [B, 1, 28, 28]; tanh of each is that level's image.
    /// </summary>
    public IReadOnlyList<Tensor> Pyramid(Tensor z, Tensor? labels)
    {
        using var scope = NewDisposeScope();
        var code = labelEmbedding is null ? z : labelEmbedding.Concat(z, ConditionalEmbedding.Require(labels, "generator"));
        var a0 = coarse.forward(code);
        var a1 = level1.forward(a0, code);
        var a2 = level2.forward(a1, code);
        return [a0.MoveToOuterDisposeScope(), a1.MoveToOuterDisposeScope(), a2.MoveToOuterDisposeScope()];
    }
}

/// <summary>
/// One LAPGAN level: the coarser image upsampled to size×size plus a residual from a conv net on [upsampled, noise map].
/// </summary>
internal sealed class LaplacianLevel : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear noise;
    private readonly Sequential residual;
    private readonly long size;

    public LaplacianLevel(int code, int width, int size) : base("level")
    {
        this.size = size;
        // A learned map of z (and the label) rather than fresh noise keeps Generate a function of its arguments, so
        // a seeded z stream replays exactly.
        noise = Linear(code, (long)size * size);                                           // [B, s·s]
        residual = Sequential(
            ("conv1", Conv2d(2, width, 3, 1, 1, bias: false)),                             // [B, w, s, s]
            ("norm1", BatchNorm2d(width)),
            ("act1", ReLU()),
            ("conv2", Conv2d(width, width, 3, 1, 1, bias: false)),                         // [B, w, s, s]
            ("norm2", BatchNorm2d(width)),
            ("act2", ReLU()),
            ("conv3", Conv2d(width, 1, 3, 1, 1)));                                         // [B, 1, s, s]
        DcganInit.Apply(noise);
        DcganInit.Apply(residual);
        RegisterComponents();
    }

    /// <summary>coarser [B, 1, s/2, s/2] and the code [B, noiseDim (+ classes)] → [B, 1, s, s].</summary>
    public override Tensor forward(Tensor coarser, Tensor code)
    {
        using var scope = NewDisposeScope();
        var upsampled = functional.interpolate(coarser, size: [size, size], mode: InterpolationMode.Bilinear,
            align_corners: false);                                                          // [B, 1, s, s]
        var noiseMap = noise.forward(code).view(-1, 1, size, size);                        // [B, 1, s, s]
        var detail = residual.forward(cat([upsampled, noiseMap], 1));                      // [B, 1, s, s]
        return (upsampled + detail).MoveToOuterDisposeScope();
    }
}

/// <summary>Radford et al.'s initialisation: weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0; GroupNorm 1 and 0.</summary>
internal static class DcganInit
{
    public const double Std = 0.02;

    public static void Apply(Module module)
    {
        using var _ = no_grad();
        foreach (var m in module.modules())
        {
            switch (m)
            {
                case Conv2d conv: Normal(conv.weight, conv.bias); break;
                case ConvTranspose2d deconv: Normal(deconv.weight, deconv.bias); break;
                case Linear linear: Normal(linear.weight, linear.bias); break;
                case BatchNorm1d norm: Scale(norm.weight, norm.bias); break;
                case BatchNorm2d norm: Scale(norm.weight, norm.bias); break;
                // TorchSharp 0.107 leaves GroupNorm's affine uninitialised (values like 1e24 seen): set the identity.
                case GroupNorm norm:
                    if (norm.weight is not null) init.ones_(norm.weight);
                    if (norm.bias is not null) init.zeros_(norm.bias);
                    break;
            }
        }
    }

    private static void Normal(Tensor? weight, Tensor? bias)
    {
        if (weight is not null) init.normal_(weight, 0, Std);
        if (bias is not null) init.zeros_(bias);
    }

    private static void Scale(Tensor? weight, Tensor? bias)
    {
        if (weight is not null) init.normal_(weight, 1, Std);
        if (bias is not null) init.zeros_(bias);
    }
}

internal static class ImageShapes
{
    public static void Check(int noiseDim, int width, int classCount)
    {
        if (noiseDim < 1) throw new ArgumentOutOfRangeException(nameof(noiseDim), noiseDim, "model.noiseDim: must be at least 1");
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "model.*.width: must be at least 1");
        if (classCount < 0) throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "must be 0 (unconditional) or more");
    }

    /// <summary>[B, 1, 28, 28] as is, flat [B, 784] viewed as images; anything else is refused.</summary>
    public static Tensor AsImages(Tensor x)
    {
        if (x.dim() == 4 && x.shape[1] == 1 && x.shape[2] == 28 && x.shape[3] == 28) return x;
        if (x.dim() == 2 && x.shape[1] == 28 * 28) return x.view(-1, 1, 28, 28);
        throw new ArgumentException($"the DCGAN discriminator takes [B, 1, 28, 28] or [B, 784] images, got [{string.Join(", ", x.shape)}]");
    }
}
