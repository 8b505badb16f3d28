using Google.Protobuf;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using GanCluster.Contracts.Tensors;
using GanCluster.Grains.Telemetry;
using GanCluster.Tests.Processes;
using GanCluster.Tests.Support;
using Xunit.Abstractions;

namespace GanCluster.Tests.Observability;

/// <summary>
/// TensorBoard's own program cannot be installed here (no registry these machines reach serves it), so the event files
/// are read back by their documented format: TFRecord framing (length, masked CRC-32C of the length, the record, its
/// masked CRC-32C) around <c>Event</c> protobufs (wall_time 1, step 2, file_version 3, summary 5), whose
/// <c>Summary.Value</c>s (tag 1, simple_value 2, image 4, tensor 8) carry scalars, PNG pictures and text.
/// </summary>
[Collection(ProcessCollection.Name)]
public class TensorBoardTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_run_with_tensorboard_writes_every_curve_metric_evaluation_and_samples_picture_per_member()
    {
        using var dir = new TempDirectory();
        string board = Path.Combine(dir.Path, "tb");
        using (var run = new ClientProcess(dir.Path, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"),
            "--set", "training.steps=200", "--set", "evaluation.every=100", "--set", "evaluation.samples=500", "--set", "training.logEvery=10",
            "--member", "tb-member", "--tensorboard", board, "--out", Path.Combine(dir.Path, "out"), "--data", Path.Combine(dir.Path, "data")))
        {
            Assert.True(await run.ExitCodeAsync(TimeSpan.FromMinutes(3)) == 0, run.Output);
        }
        var events = ReadRun(Path.Combine(board, "tb-member"));
        output.WriteLine(string.Join("\n", events.GroupBy(e => e.Tag).Select(g => $"{g.Key}: {g.Count()} ({g.First().Kind})")));

        Assert.Equal("brain.Event:2", events[0].FileVersion);
        foreach (var tag in new[] { "loss/discriminator", "loss/generator", "D(x)/real", "D(x)/fake", "gradient_norm/generator", "gradient_norm/discriminator" })
            Assert.Equal(Enumerable.Range(1, 20).Select(i => 10L * i), events.Where(e => e.Tag == tag).Select(e => e.Step));
        foreach (var tag in new[] { "eval/modes_covered", "eval/high_quality", "eval/reverse_kl", "eval/D(x)_real", "eval/D(x)_fake" })
            Assert.Equal([100L, 200L], events.Where(e => e.Tag == tag).Select(e => e.Step));
        Assert.All(events.Where(e => e.Tag == "eval/high_quality"), e => Assert.InRange(e.Value!.Value, 0f, 1f));
        var pictures = events.Where(e => e.Tag == "samples").ToList();
        Assert.Equal([100L, 200L], pictures.Select(p => p.Step));
        Assert.All(pictures, p => Assert.Equal((320, 320), PngSize(p.Image!)));
    }

    [Fact]
    public void A_members_report_replays_into_a_run_with_its_lineage_as_text()
    {
        using var dir = new TempDirectory();
        var report = new MemberReport
        {
            Status = new MemberStatus { MemberId = "s-p0-m1", State = MemberState.Completed, Step = 20 },
            Spec = TestSpecs.SmallRing(),
            Curve = [new CurvePoint(10, 1.3, 0.7, 0.6, 0.4), new CurvePoint(20, 1.2, 0.8, 0.55, 0.45)],
            Evaluations = [new MixtureMetrics(10, 3, 8, 0.4, 0.9, 0.6, 0.4), new MixtureMetrics(20, 5, 8, 0.6, 0.5, 0.55, 0.45)],
            Samples = TensorMessage.FromFloats([1f, 0f, 0f, 1f, -1f, 0f, 0f, -1f], 4, 2),
        };
        var lineage = new LineageEntry("s-p0-m1", 20, "s-p0-m0", 20, "lr=0.001", "lr=0.0012", DateTimeOffset.UtcNow);
        var data = GanCluster.Gan.Data.MixtureDataset.Ring(8, 1, 0.01);
        new MemberBoard(TensorBoardSink.RunDirectory(dir.Path, new MemberLabels("s", "0", "s-p0-m1"))).Replay(report, [lineage], data.ModeCenters, data.Std);

        var events = ReadRun(Path.Combine(dir.Path, "s", "s-p0-m1"));
        Assert.Equal([1.3f, 1.2f], events.Where(e => e.Tag == "loss/discriminator").Select(e => e.Value!.Value));
        Assert.Equal([3f, 5f], events.Where(e => e.Tag == "eval/modes_covered").Select(e => e.Value!.Value));
        Assert.Equal([20L], events.Where(e => e.Tag == "samples").Select(e => e.Step)); // the last evaluation's samples only
        var text = Assert.Single(events, e => e.Tag.StartsWith("pbt", StringComparison.Ordinal));
        Assert.Contains("exploited s-p0-m0 at step 20; explored: lr=0.0012", text.Text);
    }

    private sealed record Entry(long Step, string Tag, string Kind, float? Value = null, byte[]? Image = null, string? Text = null, string? FileVersion = null);

    /// <summary>Every record of every event file in a run's directory, in order, each record's framing checked.</summary>
    private static List<Entry> ReadRun(string directory)
    {
        var files = Directory.GetFiles(directory, "events.out.tfevents.*").Order().ToList();
        Assert.NotEmpty(files);
        var entries = new List<Entry>();
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            int at = 0;
            while (at < bytes.Length)
            {
                ulong length = BitConverter.ToUInt64(bytes, at);
                Assert.Equal(MaskedCrc(bytes.AsSpan(at, 8)), BitConverter.ToUInt32(bytes, at + 8));
                var record = bytes.AsSpan(at + 12, (int)length);
                Assert.Equal(MaskedCrc(record), BitConverter.ToUInt32(bytes, at + 12 + (int)length));
                entries.AddRange(ReadEvent(record.ToArray()));
                at += 12 + (int)length + 4;
            }
        }
        return entries;
    }

    private static IEnumerable<Entry> ReadEvent(byte[] record)
    {
        var input = new CodedInputStream(record);
        long step = 0;
        string? version = null;
        var values = new List<Entry>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 2: step = input.ReadInt64(); break;
                case 3: version = input.ReadString(); break;
                case 5: values.AddRange(ReadSummary(input.ReadBytes().ToByteArray())); break;
                default: input.SkipLastField(); break;
            }
        return version is not null ? [new Entry(step, "", "file", FileVersion: version)] : values.Select(v => v with { Step = step });
    }

    private static IEnumerable<Entry> ReadSummary(byte[] summary)
    {
        var input = new CodedInputStream(summary);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) != 1) { input.SkipLastField(); continue; }
            var value = new CodedInputStream(input.ReadBytes().ToByteArray());
            string name = "";
            Entry entry = new(0, "", "unknown");
            uint field;
            while ((field = value.ReadTag()) != 0)
                switch (WireFormat.GetTagFieldNumber(field))
                {
                    case 1: name = value.ReadString(); break;
                    case 2: entry = entry with { Kind = "scalar", Value = value.ReadFloat() }; break;
                    case 4: entry = entry with { Kind = "image", Image = Field(value.ReadBytes().ToByteArray(), 4) }; break;
                    case 8: entry = entry with { Kind = "text", Text = System.Text.Encoding.UTF8.GetString(Field(value.ReadBytes().ToByteArray(), 8) ?? []) }; break;
                    default: value.SkipLastField(); break;
                }
            yield return entry with { Tag = name };
        }
    }

    /// <summary>The first length-delimited field <paramref name="number"/> of a message (Image.encoded_image_string, TensorProto.string_val).</summary>
    private static byte[]? Field(byte[] message, int number)
    {
        var input = new CodedInputStream(message);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited) return input.ReadBytes().ToByteArray();
            input.SkipLastField();
        }
        return null;
    }

    private static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        static int BigEndian(byte[] b, int at) => (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
        return (BigEndian(png, 16), BigEndian(png, 20));
    }

    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(i =>
    {
        uint c = (uint)i;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>CRC-32C (Castagnoli), masked as TFRecord masks it.</summary>
    private static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        crc ^= 0xFFFFFFFFu;
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }
}
