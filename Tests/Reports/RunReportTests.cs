using System.Text.Json;
using GanCluster.Client.Reports;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Tensors;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Reports;

public class RunReportTests
{
    private static MemberReport Report(int dimension, double? nanMetric = null)
    {
        var spec = TestSpecs.SmallRing(steps: 100);
        if (dimension == 1) spec = spec with { Data = new() { Kind = "gaussian1d", Mean = 4, Std = 0.5 } };
        var rng = new Random(3);
        var samples = Enumerable.Range(0, 300 * dimension).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var evaluation = new MixtureMetrics(100, 3, dimension == 1 ? 1 : 8, 0.4, nanMetric ?? 0.3, 0.6, 0.4);
        return new MemberReport
        {
            Status = new MemberStatus { MemberId = "m1", State = MemberState.Completed, Step = 100, TotalSteps = 100, Evaluation = evaluation },
            Spec = spec,
            Curve = Enumerable.Range(1, 10).Select(i => new CurvePoint(i * 10, 1.3, 0.7, 0.6, i == 5 ? double.NaN : 0.4)).ToArray(),
            Evaluations = [evaluation],
            Samples = TensorMessage.FromFloats(samples, 300, dimension),
            CheckpointPath = "/tmp/ckpt",
        };
    }

    [Theory]
    [InlineData(2, 800, 800)]
    [InlineData(1, 900, 500)]
    public void A_run_leaves_report_json_samples_png_curves_png_and_samples_csv(int dimension, int width, int height)
    {
        using var dir = new TempDirectory();
        RunReport.Write(dir.Path, [Report(dimension)]);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "report.json")));
        var member = json.RootElement.GetProperty("members")[0];
        Assert.Equal("m1", member.GetProperty("id").GetString());
        Assert.Equal("completed", member.GetProperty("status").GetString());
        Assert.Equal(100, member.GetProperty("step").GetInt64());
        Assert.Equal(3, member.GetProperty("metrics").GetProperty("modesCovered").GetInt32());
        Assert.True(member.GetProperty("hyperparameters").GetProperty("generatorLr").GetDouble() > 0);
        Assert.Equal("test-ring", json.RootElement.GetProperty("spec").GetProperty("name").GetString());

        AssertPng(Path.Combine(dir.Path, "samples.png"), width, height);
        AssertPng(Path.Combine(dir.Path, "curves.png"), 1000, 700);
        var csv = File.ReadAllLines(Path.Combine(dir.Path, "samples.csv"));
        Assert.Equal(dimension == 2 ? "x,y,nearest_mode,distance,high_quality" : "x,nearest_mode,distance,high_quality", csv[0]);
        Assert.Equal(301, csv.Length);
    }

    [Fact]
    public void Non_finite_metrics_are_written_as_null_not_as_invalid_json()
    {
        using var dir = new TempDirectory();
        RunReport.Write(dir.Path, [Report(2, double.PositiveInfinity)]);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "report.json")));
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("members")[0].GetProperty("metrics").GetProperty("reverseKl").ValueKind);
    }

    private static void AssertPng(string path, int width, int height)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        // IHDR: width and height, big-endian, at bytes 16..23.
        Assert.Equal(width, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4)));
        Assert.Equal(height, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20, 4)));
    }
}
