using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Data;

/// <summary>
/// Labelled grey-scale images held in memory: <see cref="Images"/> float32 [N, 1, H, W] scaled from bytes to [−1, 1]
/// (the range of a generator that ends in tanh) and <see cref="Labels"/> int64 [N]. Owns both tensors (on the CPU):
/// dispose it. Sampling draws only from the generator passed in, so a data stream is reproducible and checkpointable.
/// </summary>
public sealed class ImageDataset : IRealData, IDisposable
{
    /// <summary>The folder of the shipped digits, relative to the folder holding GanCluster.sln.</summary>
    public const string ShippedDigitsFolder = "datasets/digits";
    public const string ShippedImagesFile = "digits-images-idx3-ubyte.gz";
    public const string ShippedLabelsFile = "digits-labels-idx1-ubyte.gz";
    private const string SolutionFile = RepositoryRoot.SolutionFile;

    private readonly byte[] pixels;
    private readonly byte[] labelBytes;
    private readonly Tensor images;
    private readonly Tensor labels;
    private bool disposed;

    /// <summary>Builds a dataset from IDX-ordered bytes: <paramref name="pixels"/> [count, height, width] and one label each.</summary>
    public ImageDataset(byte[] pixels, byte[] labels, int height, int width, int classCount = 10)
    {
        if (height <= 0 || width <= 0) throw new ArgumentException($"image size must be positive, got {height}×{width}");
        if (labels.Length == 0) throw new ArgumentException("an image dataset needs at least one image", nameof(labels));
        if (pixels.Length != (long)labels.Length * height * width)
            throw new ArgumentException($"{labels.Length} labels need {(long)labels.Length * height * width} pixel bytes of {height}×{width} images, got {pixels.Length}");
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classCount) throw new ArgumentException($"label {labels[i]} at index {i} is outside 0–{classCount - 1}", nameof(labels));
        }
        this.pixels = pixels;
        labelBytes = labels;
        Height = height;
        Width = width;
        ClassCount = classCount;
        Fingerprint = ComputeFingerprint(pixels, labels, height, width);

        // Detached from the scope: a dataset outlives any dispose scope its caller happens to have open.
        using var scope = NewDisposeScope();
        var bytes = tensor(pixels, [labels.Length, 1, height, width], dtype: ScalarType.Byte);
        this.images = (bytes.to_type(ScalarType.Float32) / 127.5f - 1f).DetachFromDisposeScope();
        this.labels = tensor(labels, [labels.Length], dtype: ScalarType.Byte).to_type(ScalarType.Int64).DetachFromDisposeScope();
    }

    /// <summary>float32 [N, 1, H, W] in [−1, 1] (byte b ↦ b / 127.5 − 1), on the CPU.</summary>
    public Tensor Images => Live(images);

    /// <summary>int64 [N], each in 0 … ClassCount − 1, on the CPU.</summary>
    public Tensor Labels => Live(labels);

    public long Count => labelBytes.Length;
    public int Height { get; }
    public int Width { get; }
    public int ClassCount { get; }
    public long[] SampleShape => [1, Height, Width];

    /// <summary>
    /// Lower-case hex SHA-256 of the IDX encodings (uncompressed) of the images and then the labels: changes exactly
    /// when a pixel, a label, the order or the size changes, and not when the files are re-compressed.
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>Loads an idx3-ubyte images file and an idx1-ubyte labels file (raw or gzipped), which must agree in count.</summary>
    public static ImageDataset Load(string imagesPath, string labelsPath, int classCount = 10)
    {
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath, classCount);
        if (labels.Count != images.Count)
            throw new InvalidDataException($"IDX files disagree: '{imagesPath}' holds {images.Count} images but '{labelsPath}' holds {labels.Count} labels");
        return new ImageDataset(images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2], classCount);
    }

    /// <summary>The 10,000 shipped 28×28 digits (datasets/digits of the repository; see its README for provenance).</summary>
    public static ImageDataset LoadShippedDigits() => LoadShippedDigits(FindShippedDigits());

    /// <summary>The shipped digits from <paramref name="directory"/>, a folder holding the two shipped files.</summary>
    public static ImageDataset LoadShippedDigits(string directory) =>
        Load(Path.Combine(directory, ShippedImagesFile), Path.Combine(directory, ShippedLabelsFile));

    /// <summary>
    /// datasets/digits: the folder named by GANCLUSTER_DIGITS if set (a deployed silo), else the repository's, found by
    /// walking up to the folder holding GanCluster.sln from the application's folder, then from the working directory.
    /// </summary>
    public static string FindShippedDigits()
    {
        if (Environment.GetEnvironmentVariable("GANCLUSTER_DIGITS") is { Length: > 0 } configured)
            return Directory.Exists(configured) ? configured
                : throw new DirectoryNotFoundException($"GANCLUSTER_DIGITS names '{configured}', which is not a folder");
        if (RepositoryRoot.Find() is { } root) return Path.Combine(root, ShippedDigitsFolder);
        throw new DirectoryNotFoundException(
            $"cannot find the shipped digits: no folder above '{AppContext.BaseDirectory}' or the working directory holds {SolutionFile}; set GANCLUSTER_DIGITS to the {ShippedDigitsFolder} folder");
    }

    /// <summary>A batch of <paramref name="count"/> images [count, 1, H, W] and their labels [count], drawn with replacement using <paramref name="rng"/>.</summary>
    public (Tensor Images, Tensor Labels) Sample(int count, Generator rng, Device device)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "a batch holds at least one image");
        using var scope = NewDisposeScope();
        // Drawn on the CPU, where the generator lives, then moved: the same indices on every device.
        var index = randint(Count, [count], dtype: ScalarType.Int64, generator: rng);
        var batch = Images.index_select(0, index).to(device);
        var classes = Labels.index_select(0, index).to(device);
        return (batch.MoveToOuterDisposeScope(), classes.MoveToOuterDisposeScope());
    }

    public (Tensor Samples, Tensor Classes) SampleWithClasses(int count, Generator rng, Device device) => Sample(count, rng, device);

    /// <summary>
    /// A deterministic random split: the same <paramref name="seed"/> gives the same (train, test) on every run. The
    /// test part holds round(Count · heldOutFraction) images (at least one, and at least one is left for training).
    /// </summary>
    public (ImageDataset Train, ImageDataset Test) Split(double heldOutFraction, long seed)
    {
        if (!(heldOutFraction > 0 && heldOutFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "the held-out fraction must lie strictly between 0 and 1");
        if (Count < 2) throw new InvalidOperationException("cannot split a dataset of fewer than two images");
        long testCount = Math.Clamp((long)Math.Round(Count * heldOutFraction), 1, Count - 1);
        long[] order;
        using (var rng = new Generator(unchecked((ulong)seed)))
        using (var permutation = randperm(Count, generator: rng))
            order = permutation.data<long>().ToArray();
        return (Subset(order.AsSpan((int)testCount)), Subset(order.AsSpan(0, (int)testCount)));
    }

    /// <summary>The images at <paramref name="indices"/>, in that order, as a new dataset.</summary>
    public ImageDataset Subset(ReadOnlySpan<long> indices)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        int size = Height * Width;
        var subsetPixels = new byte[indices.Length * size];
        var subsetLabels = new byte[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            long n = indices[i];
            if (n < 0 || n >= Count) throw new ArgumentOutOfRangeException(nameof(indices), n, $"index outside 0–{Count - 1}");
            Array.Copy(pixels, n * size, subsetPixels, (long)i * size, size);
            subsetLabels[i] = labelBytes[n];
        }
        return new ImageDataset(subsetPixels, subsetLabels, Height, Width, ClassCount);
    }

    /// <summary>How many images carry each label.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassCount];
        foreach (byte label in labelBytes) counts[label]++;
        return counts;
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        images.Dispose();
        labels.Dispose();
    }

    private Tensor Live(Tensor t)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return t;
    }

    private static string ComputeFingerprint(byte[] pixels, byte[] labels, int height, int width)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Idx.Encode([labels.Length, height, width]));
        hash.AppendData(pixels);
        hash.AppendData(Idx.Encode([labels.Length]));
        hash.AppendData(labels);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
