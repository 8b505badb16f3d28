using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Gan.Networks;

/// <summary>
/// A learned vector per class (Mirza &amp; Osindero 2014 condition both networks on the label). Labels are int64 class
/// indices [B]. Two ways to use it:
/// <list type="bullet">
/// <item><see cref="Concat"/>: [B, F] ⊕ embed(y) [B, dim], the input of a generator's first layer (or of an MLP D).</item>
/// <item><see cref="Project"/>: ⟨embed(y), φ(x)⟩ [B], the projection discriminator's class term (Miyato &amp; Koyama 2018):
/// logit = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, with dim = the feature width F.</item>
/// </list>
/// </summary>
public sealed class ConditionalEmbedding : Module<Tensor, Tensor>
{
    private readonly Embedding embedding;

    public int ClassCount { get; }
    public int Dim { get; }

    /// <param name="std">
    /// Initial std of each vector: 1 suits concatenation to N(0, 1) noise (the label is as loud as z from the first
    /// step); a projection term wants the scale of the head it is added to (the DCGAN D uses 0.02, as its Linear head).
    /// </param>
    public ConditionalEmbedding(int classCount, int dim, double std = 1.0) : base("label_embedding")
    {
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "needs at least one class");
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "needs at least one dimension");
        ClassCount = classCount;
        Dim = dim;
        embedding = Embedding(classCount, dim);
        using (no_grad()) init.normal_(embedding.weight!, 0, std);
        RegisterComponents();
    }

    /// <summary>labels [B] (int64) → [B, dim].</summary>
    public override Tensor forward(Tensor labels)
    {
        if (labels.dtype != ScalarType.Int64 || labels.dim() != 1)
            throw new ArgumentException($"labels must be int64 class indices [B], got {labels.dtype} [{string.Join(", ", labels.shape)}]");
        return embedding.forward(labels);
    }

    /// <summary>[B, F] ⊕ embed(labels) → [B, F + dim].</summary>
    public Tensor Concat(Tensor inputs, Tensor labels)
    {
        using var embedded = forward(labels);
        return cat([inputs, embedded.to(inputs.dtype)], 1);
    }

    /// <summary>
    /// ⟨embed(labels), features⟩ per sample: features [B, dim] → [B]. Packed (PacGAN, m &gt; 1): features [B/m, dim] of
    /// tuples of m samples, labels [B]; a tuple's class vector is the sum of its samples' → [B/m].
    /// </summary>
    public Tensor Project(Tensor features, Tensor labels, int packing = 1)
    {
        using var scope = NewDisposeScope();
        var embedded = forward(labels);
        if (packing > 1) embedded = embedded.view(-1, packing, Dim).sum(1);
        return (embedded * features).sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>The labels of a conditional network's call, or a clear error when the caller forgot them.</summary>
    public static Tensor Require(Tensor? labels, string network) =>
        labels ?? throw new ArgumentException($"the {network} is conditional (classCount > 0) and needs class labels [B]");
}
