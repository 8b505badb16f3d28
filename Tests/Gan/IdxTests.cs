using System.IO.Compression;
using GanCluster.Gan.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Tests.Gan;

public sealed class IdxTests : IDisposable
{
    /// <summary>The shipped digits' <see cref="ImageDataset.Fingerprint"/>, as datasets/digits/README.md states it.</summary>
    private const string ShippedDigitsFingerprint = "7b725961fbbd7317c0fa7419d886244fdee9197bc5672d7cc5deccb9a2c04884";

    private readonly string folder = Directory.CreateTempSubdirectory("gancluster-idx-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Images_and_labels_written_then_read_are_equal(bool gzip)
    {
        var pixels = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)(i * 7)).ToArray();
        byte[] labels = [2, 0, 9];
        string imagesPath = Path.Combine(folder, "a-images-idx3-ubyte"), labelsPath = Path.Combine(folder, "a-labels-idx1-ubyte");
        Idx.WriteImages(imagesPath, pixels, count: 3, rows: 4, columns: 5, gzip);
        Idx.WriteLabels(labelsPath, labels, gzip);

        var images = Idx.ReadImages(imagesPath);
        Assert.Equal([3, 4, 5], images.Dimensions);
        Assert.Equal(pixels, images.Data);
        Assert.Equal(labels, Idx.ReadLabels(labelsPath, classCount: 10).Data);
        Assert.Equal(gzip, IsGzip(imagesPath));
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
    }

    [Fact]
    public void Gzip_is_recognised_by_its_magic_bytes_not_by_the_file_name()
    {
        byte[] labels = [1, 2, 3];
        string gzippedWithoutSuffix = Path.Combine(folder, "labels-idx1-ubyte"), rawWithSuffix = Path.Combine(folder, "labels-idx1-ubyte.gz");
        Idx.WriteLabels(gzippedWithoutSuffix, labels, gzip: true);
        Idx.WriteLabels(rawWithSuffix, labels, gzip: false);

        var fromGzip = Idx.ReadLabels(gzippedWithoutSuffix);
        var fromRaw = Idx.ReadLabels(rawWithSuffix);
        Assert.Equal(labels, fromGzip.Data);
        Assert.Equal(labels, fromRaw.Data);
        // The hash is of the IDX content, so compression does not change it.
        Assert.Equal(fromRaw.Sha256, fromGzip.Sha256);
    }

    public static TheoryData<string, byte[], bool, string> MalformedFiles() => new()
    {
        // name, file bytes, read as labels (else images), the complaint
        { "empty", [], false, "0 bytes long, too short for an IDX header" },
        { "png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], false, "is not an IDX file (magic 89504E47, expected 00000803)" },
        { "float32", [0, 0, 0x0D, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], false, "IDX type 0x0D (float32); only unsigned bytes (0x08)" },
        { "labels read as images", [0, 0, 8, 1, 0, 0, 0, 1, 7], false, "has 1 dimension(s), expected 3 (images; magic 0x00000803)" },
        { "images read as labels", [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7], true, "has 3 dimension(s), expected 1 (labels; magic 0x00000801)" },
        { "truncated header", [0, 0, 8, 3, 0, 0, 0, 1, 0, 0], false, "truncated inside its header (6 of 12 dimension bytes)" },
        { "truncated data", [.. Header(3, 2, 2), .. new byte[11]], false, "is truncated: dimensions [3, 2, 2] need 12 data bytes, found 11" },
        { "trailing garbage", [.. Header(3, 2, 2), .. new byte[12], 0xFF, 0xFF], false, "has 2 trailing byte(s) after the 12 data bytes" },
        { "zero dimension", [.. Header(3, 0, 2)], false, "has dimension 1 of size 0" },
        { "zero labels", [.. Header(0)], true, "has dimension 0 of size 0" },
        { "absurd dimensions", [.. Header(60000, 28, 0x7FFFFFFF)], false, "has absurd dimensions [60000, 28, 2147483647]" },
        { "dimension beyond int", [.. Header(0xFFFFFFFF)], true, "has absurd dimensions [4294967295]" },
        { "label outside 0-9", [.. Header(3), 1, 9, 10], true, "label 10 at index 2 is outside 0–9" },
        { "truncated gzip", Gzip([.. Header(100, 28, 28), .. RandomBytes(100 * 28 * 28)])[..4000], false, "is truncated" },
        { "corrupt gzip", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], false, "corrupt gzip data" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void A_malformed_file_is_refused_with_its_name_and_what_is_wrong(string name, byte[] bytes, bool labels, string complaint)
    {
        string path = Path.Combine(folder, name.Replace(' ', '-'));
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => labels ? Idx.ReadLabels(path, classCount: 10) : Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(complaint, e.Message);
    }

    [Fact]
    public void A_missing_file_is_refused_with_its_path()
    {
        string path = Path.Combine(folder, "nowhere-images-idx3-ubyte.gz");
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FileName);
    }

    [Fact]
    public void Images_and_labels_of_different_counts_are_refused_naming_both_files()
    {
        string imagesPath = Path.Combine(folder, "images"), labelsPath = Path.Combine(folder, "labels");
        Idx.WriteImages(imagesPath, new byte[3 * 28 * 28], 3, 28, 28, gzip: true);
        Idx.WriteLabels(labelsPath, [1, 2], gzip: true);
        var e = Assert.Throws<InvalidDataException>(() => ImageDataset.Load(imagesPath, labelsPath));
        Assert.Contains($"'{imagesPath}' holds 3 images but '{labelsPath}' holds 2 labels", e.Message);
    }

    [Fact]
    public void The_shipped_digits_load_as_10000_images_of_10_classes_about_1000_each()
    {
        using var data = ImageDataset.LoadShippedDigits();
        Assert.Equal(10_000, data.Count);
        Assert.Equal(10, data.ClassCount);
        Assert.Equal([10_000L, 1, 28, 28], data.Images.shape);
        Assert.Equal(ScalarType.Float32, data.Images.dtype);
        Assert.Equal(ScalarType.Int64, data.Labels.dtype);
        Assert.Equal(-1f, data.Images.min().item<float>());
        Assert.Equal(1f, data.Images.max().item<float>());
        Assert.All(data.ClassCounts(), n => Assert.InRange(n, 850, 1150));
        // Shuffled when converted: even a short prefix holds every class.
        Assert.Equal(10, data.Labels.narrow(0, 0, 100).unique().Item1.shape[0]);
        Assert.Equal(ShippedDigitsFingerprint, data.Fingerprint);
    }

    [Fact]
    public void Sampling_with_the_same_seed_gives_the_same_batch()
    {
        using var data = SmallDataset(50);
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var g3 = new Generator(8);
        var (a, aLabels) = data.Sample(32, g1, CPU);
        var (b, bLabels) = data.Sample(32, g2, CPU);
        var (c, _) = data.Sample(32, g3, CPU);
        Assert.Equal([32L, 1, 28, 28], a.shape);
        Assert.Equal([32L], aLabels.shape);
        Assert.True(a.eq(b).all().item<bool>());
        Assert.True(aLabels.eq(bLabels).all().item<bool>());
        Assert.False(a.eq(c).all().item<bool>());
    }

    [Fact]
    public void Splitting_is_deterministic_and_partitions_the_images()
    {
        using var data = SmallDataset(200);
        var (train, test) = data.Split(0.1, seed: 3);
        var (train2, test2) = data.Split(0.1, seed: 3);
        var (_, test3) = data.Split(0.1, seed: 4);
        using (train) using (test) using (train2) using (test2) using (test3)
        {
            Assert.Equal(180, train.Count);
            Assert.Equal(20, test.Count);
            Assert.Equal(train.Fingerprint, train2.Fingerprint);
            Assert.Equal(test.Fingerprint, test2.Fingerprint);
            Assert.NotEqual(test.Fingerprint, test3.Fingerprint);
            // Every image of SmallDataset is distinct (its first pixel is its index): the parts are disjoint and complete.
            var firstPixels = cat([train.Images, test.Images]).select(2, 0).select(2, 0).squeeze(1);
            Assert.Equal(200, firstPixels.unique().Item1.shape[0]);
        }
    }

    [Fact]
    public void A_dataset_outlives_the_dispose_scope_it_was_made_in_and_refuses_use_after_dispose()
    {
        ImageDataset data;
        using (NewDisposeScope()) data = SmallDataset(10);
        Assert.Equal(10, data.Images.shape[0]);
        data.Dispose();
        Assert.Throws<ObjectDisposedException>(() => data.Images);
    }

    /// <summary>count 28×28 images whose first pixel is the image's index (so each is distinct), labels index mod 10.</summary>
    private static ImageDataset SmallDataset(int count)
    {
        var pixels = new byte[count * 28 * 28];
        for (int i = 0; i < count; i++) pixels[i * 28 * 28] = (byte)i;
        return new ImageDataset(pixels, Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray(), 28, 28);
    }

    private static byte[] Header(params uint[] dimensions)
    {
        var header = new byte[4 + 4 * dimensions.Length];
        header[2] = 0x08;
        header[3] = (byte)dimensions.Length;
        for (int d = 0; d < dimensions.Length; d++)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4 + 4 * d), dimensions[d]);
        return header;
    }

    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(1).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Gzip(byte[] content)
    {
        using var stream = new MemoryStream();
        using (var gzip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(content);
        return stream.ToArray();
    }

    private static bool IsGzip(string path)
    {
        var head = File.ReadAllBytes(path);
        return head.Length >= 2 && head[0] == 0x1F && head[1] == 0x8B;
    }
}
