namespace GanCluster.Contracts.Tensors;

/// <summary>
/// A tensor as it crosses a grain boundary: shape, element type and raw little-endian bytes.
/// Immutable so that Orleans passes it by reference inside a silo instead of deep-copying the bytes.
/// </summary>
[GenerateSerializer, Immutable, Alias("gan.TensorMessage")]
public sealed record TensorMessage(
    [property: Id(0)] int[] Shape,
    [property: Id(1)] TensorElementType ElementType,
    [property: Id(2)] byte[] Data)
{
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);

    public static int ElementSize(TensorElementType type) => type switch
    {
        TensorElementType.Float32 => 4,
        TensorElementType.Int64 => 8,
        TensorElementType.UInt8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown tensor element type"),
    };

    /// <summary>Throws when the byte count does not match shape × element size (a corrupt or truncated message).</summary>
    public TensorMessage Validated()
    {
        if (Shape.Any(d => d < 0))
            throw new ArgumentException($"tensor message has a negative dimension: [{string.Join(", ", Shape)}]");
        long expected = ElementCount * ElementSize(ElementType);
        if (expected != Data.LongLength)
            throw new ArgumentException(
                $"tensor message of shape [{string.Join(", ", Shape)}] and type {ElementType} needs {expected} bytes, got {Data.LongLength}");
        return this;
    }

    public static TensorMessage FromFloats(float[] values, params int[] shape)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return new TensorMessage(shape, TensorElementType.Float32, bytes).Validated();
    }

    public float[] ToFloats()
    {
        if (ElementType != TensorElementType.Float32)
            throw new InvalidOperationException($"tensor message holds {ElementType}, not Float32");
        var values = new float[Data.Length / sizeof(float)];
        Buffer.BlockCopy(Data, 0, values, 0, Data.Length);
        return values;
    }

    /// <summary>Rows of a 2-D float message, for evaluation and reports.</summary>
    public float[][] ToRows()
    {
        if (Shape.Length != 2) throw new InvalidOperationException($"expected a 2-D tensor, got rank {Shape.Length}");
        var flat = ToFloats();
        int cols = Shape[1];
        var rows = new float[Shape[0]][];
        for (int r = 0; r < rows.Length; r++)
            rows[r] = flat.AsSpan(r * cols, cols).ToArray();
        return rows;
    }
}

[GenerateSerializer, Alias("gan.TensorElementType")]
public enum TensorElementType
{
    Float32 = 0,
    Int64 = 1,
    UInt8 = 2,
}
