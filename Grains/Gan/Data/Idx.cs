using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;

namespace GanCluster.Gan.Data;

/// <summary>
/// An unsigned-byte IDX array as read from a file: its dimensions (outermost first), its bytes in row-major order,
/// and the SHA-256 of its uncompressed IDX encoding (header and data), which does not depend on how it was gzipped.
/// </summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data, string Sha256)
{
    public int Count => Dimensions[0];
}

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (<c>*-images-idx3-ubyte[.gz]</c>, <c>*-labels-idx1-ubyte[.gz]</c>):
/// a big-endian header (two zero bytes, a type code, the number of dimensions, then each dimension as a 32-bit
/// unsigned integer) followed by the data. Only the unsigned-byte type (0x08) is read, which is what image and label
/// files use. A gzipped file is recognised by its magic bytes (1f 8b), not by its name. Every malformed file is
/// refused with an <see cref="InvalidDataException"/> naming the file and what is wrong.
/// </summary>
public static class Idx
{
    /// <summary>Magic of an unsigned-byte array of 3 dimensions: images [count, rows, columns].</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic of an unsigned-byte array of 1 dimension: labels [count].</summary>
    public const int LabelsMagic = 0x00000801;

    private const byte UnsignedByteType = 0x08;

    /// <summary>
    /// The largest array read (1 GiB, 16× the 60,000 MNIST training images), so that a corrupt header cannot make the
    /// reader allocate without bound.
    /// </summary>
    public const long MaxElements = 1L << 30;

    /// <summary>Reads images [count, rows, columns] from an idx3-ubyte file, raw or gzipped.</summary>
    public static IdxArray ReadImages(string path) => Read(path, dimensions: 3, "images");

    /// <summary>
    /// Reads labels [count] from an idx1-ubyte file, raw or gzipped; with <paramref name="classCount"/>, every label must
    /// lie in 0 … classCount − 1.
    /// </summary>
    public static IdxArray ReadLabels(string path, int? classCount = null)
    {
        var labels = Read(path, dimensions: 1, "labels");
        if (classCount is int classes)
        {
            for (int i = 0; i < labels.Data.Length; i++)
            {
                if (labels.Data[i] >= classes)
                    throw new InvalidDataException(
                        $"IDX file '{path}': label {labels.Data[i]} at index {i} is outside 0–{classes - 1}");
            }
        }
        return labels;
    }

    /// <summary>Reads an unsigned-byte IDX array that must have <paramref name="dimensions"/> dimensions.</summary>
    public static IdxArray Read(string path, int dimensions, string what = "array")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX {what} file not found: '{path}'", path);
        using var file = File.OpenRead(path);
        bool gzipped = file.Length >= 2 && file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
        file.Position = 0;
        using Stream content = gzipped ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            return Read(content, path, dimensions, what);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("IDX file", StringComparison.Ordinal))
        {
            // GZipStream's own complaints (a corrupt deflate stream) do not say which file they are about.
            throw new InvalidDataException($"IDX file '{path}': corrupt gzip data ({e.Message})", e);
        }
    }

    private static IdxArray Read(Stream content, string path, int dimensions, string what)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var magic = new byte[4];
        int got = ReadFully(content, magic);
        if (got < 4) throw Invalid(path, $"is {got} bytes long, too short for an IDX header");
        hash.AppendData(magic);
        if (magic[0] != 0 || magic[1] != 0)
            throw Invalid(path, $"is not an IDX file (magic {Convert.ToHexString(magic)}, expected 0000{UnsignedByteType:X2}{dimensions:X2})");
        if (magic[2] != UnsignedByteType)
            throw Invalid(path, $"holds IDX type 0x{magic[2]:X2} ({TypeName(magic[2])}); only unsigned bytes (0x08) are read");
        if (magic[3] != dimensions)
            throw Invalid(path, $"has {magic[3]} dimension(s), expected {dimensions} ({what}; magic 0x{(UnsignedByteType << 8) | dimensions:X8})");

        var header = new byte[4 * dimensions];
        got = ReadFully(content, header);
        if (got < header.Length) throw Invalid(path, $"is truncated inside its header ({got} of {header.Length} dimension bytes)");
        hash.AppendData(header);
        var shape = new int[dimensions];
        long elements = 1;
        for (int d = 0; d < dimensions; d++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4 * d));
            if (size == 0) throw Invalid(path, $"has dimension {d} of size 0");
            elements *= size;
            if (size > int.MaxValue || elements > MaxElements)
                throw Invalid(path, $"has absurd dimensions [{string.Join(", ", ReadSizes(header, d + 1))}] (more than {MaxElements} elements)");
            shape[d] = (int)size;
        }

        var data = new byte[elements];
        got = ReadFully(content, data);
        if (got < data.Length)
            throw Invalid(path, $"is truncated: dimensions [{string.Join(", ", shape)}] need {data.Length} data bytes, found {got}");
        hash.AppendData(data);
        var extra = new byte[4096];
        int trailing = ReadFully(content, extra);
        if (trailing > 0)
        {
            long more = trailing;
            while ((got = content.Read(extra)) > 0) more += got;
            throw Invalid(path, $"has {more} trailing byte(s) after the {data.Length} data bytes of dimensions [{string.Join(", ", shape)}]");
        }
        return new IdxArray(shape, data, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    /// <summary>Writes images [count, rows, columns] as idx3-ubyte, gzipped when asked; atomically (temporary file, rename).</summary>
    public static void WriteImages(string path, byte[] pixels, int count, int rows, int columns, bool gzip) =>
        Write(path, [count, rows, columns], pixels, gzip);

    /// <summary>Writes labels [count] as idx1-ubyte, gzipped when asked; atomically.</summary>
    public static void WriteLabels(string path, byte[] labels, bool gzip) => Write(path, [labels.Length], labels, gzip);

    /// <summary>Writes an unsigned-byte IDX array; atomically, so no reader ever sees a half-written file.</summary>
    public static void Write(string path, int[] dimensions, byte[] data, bool gzip)
    {
        if (dimensions.Length is 0 or > 255) throw new ArgumentException("an IDX array has 1 to 255 dimensions", nameof(dimensions));
        long elements = 1;
        foreach (int size in dimensions)
        {
            if (size <= 0) throw new ArgumentException($"IDX dimensions must be positive, got [{string.Join(", ", dimensions)}]", nameof(dimensions));
            elements *= size;
        }
        if (elements != data.Length)
            throw new ArgumentException($"dimensions [{string.Join(", ", dimensions)}] need {elements} bytes, got {data.Length}", nameof(data));

        // A unique temporary name in the same folder: concurrent writers never share it, and the rename is atomic.
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        var header = Encode(dimensions);
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            if (gzip)
            {
                using var compressed = new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true);
                compressed.Write(header);
                compressed.Write(data);
            }
            else
            {
                file.Write(header);
                file.Write(data);
            }
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The IDX header of an unsigned-byte array of these dimensions.</summary>
    public static byte[] Encode(int[] dimensions)
    {
        var header = new byte[4 + 4 * dimensions.Length];
        header[2] = UnsignedByteType;
        header[3] = (byte)dimensions.Length;
        for (int d = 0; d < dimensions.Length; d++)
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4 + 4 * d), (uint)dimensions[d]);
        return header;
    }

    private static int ReadFully(Stream stream, byte[] buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static IEnumerable<uint> ReadSizes(byte[] header, int count) =>
        Enumerable.Range(0, count).Select(d => BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4 * d)));

    private static string TypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown type",
    };

    private static InvalidDataException Invalid(string path, string problem) => new($"IDX file '{path}' {problem}");
}
