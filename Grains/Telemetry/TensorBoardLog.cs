using System.Collections.Concurrent;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Grains.Telemetry;

/// <summary>
/// TensorBoard event files per member (setting <c>Gan:TensorBoard</c>, a directory; <c>run --tensorboard DIR</c>), written
/// with TorchSharp's <c>SummaryWriter</c>: a run per member, <c>DIR/SWEEP/MEMBER</c> (or <c>DIR/MEMBER</c> for a member on
/// its own), so a sweep's members sit side by side. Off (null) when no directory is set.
/// </summary>
public sealed class TensorBoardSink(string? directory)
{
    public const string Setting = "Gan:TensorBoard";
    private readonly ConcurrentDictionary<string, MemberBoard> boards = new();

    public string? Directory { get; } = string.IsNullOrWhiteSpace(directory) ? null : Path.GetFullPath(directory);

    /// <summary>The member's board, or null when TensorBoard logging is off.</summary>
    public MemberBoard? For(MemberLabels labels) => Directory is null ? null
        : boards.GetOrAdd(labels.Member, _ => new MemberBoard(RunDirectory(Directory, labels)));

    public static string RunDirectory(string root, MemberLabels labels) =>
        labels.Sweep is "" or "none" ? Path.Combine(root, labels.Member) : Path.Combine(root, labels.Sweep, labels.Member);
}

/// <summary>One member's TensorBoard run: scalars, the samples picture at each evaluation, PBT exploits as text.</summary>
public sealed class MemberBoard
{
    private readonly TorchSharp.Modules.SummaryWriter writer;
    private readonly object gate = new();

    public MemberBoard(string directory)
    {
        LogDirectory = directory;
        writer = torch.utils.tensorboard.SummaryWriter(directory);
    }

    public string LogDirectory { get; }

    /// <summary>One point of the loss curve: losses, D(x) on real and fake, gradient norms.</summary>
    public void Curve(CurvePoint p) => Scalars(p.Step,
        ("loss/discriminator", p.DLoss), ("loss/generator", p.GLoss), ("D(x)/real", p.DReal), ("D(x)/fake", p.DFake),
        ("gradient_norm/generator", p.GradNormG), ("gradient_norm/discriminator", p.GradNormD));

    /// <summary>A mixture evaluation and its samples drawn over the modes.</summary>
    public void Evaluated(MixtureMetrics m, TensorMessage? samples, float[][] modes, double std)
    {
        Scalars(m.Step, ("eval/modes_covered", m.ModesCovered), ("eval/modes_covered_veegan", m.ModesWithAnyHighQuality ?? double.NaN),
            ("eval/high_quality", m.HighQualityFraction), ("eval/reverse_kl", m.ReverseKl), ("eval/D(x)_real", m.MeanDReal), ("eval/D(x)_fake", m.MeanDFake),
            ("eval/label_accuracy", m.LabelAccuracy ?? double.NaN));
        if (samples is not null && samples.Shape.Length == 2 && samples.Shape[1] == 2 && modes.Length > 0)
            Image("samples", m.Step, SamplePictures.Scatter(samples.ToFloats(), modes, std));
    }

    /// <summary>An image evaluation and a grid of its samples.</summary>
    public void Evaluated(ImageMetrics m, TensorMessage? samples)
    {
        Scalars(m.Step, ("eval/classes_covered", m.ClassesCovered), ("eval/frechet_distance", m.FrechetDistance), ("eval/class_kl", m.ClassKl),
            ("eval/confident", m.ConfidentFraction), ("eval/D(x)_real", m.MeanDReal), ("eval/D(x)_fake", m.MeanDFake),
            ("eval/label_accuracy", m.LabelAccuracy ?? double.NaN));
        if (samples is not null && samples.Shape.Length == 4)
            Image("samples", m.Step, SamplePictures.Grid(samples.ToFloats(), samples.Shape[0], samples.Shape[2], samples.Shape[3]));
    }

    /// <summary>
    /// A finished member's report written after the fact (<c>results --tensorboard</c>): its curve, every evaluation,
    /// the samples of the last one, and its PBT exploits.
    /// </summary>
    public void Replay(MemberReport report, IEnumerable<Contracts.Sweeps.LineageEntry> lineage, float[][]? modes, double std)
    {
        foreach (var point in report.Curve) Curve(point);
        for (int i = 0; i < report.Evaluations.Count; i++)
            Evaluated(report.Evaluations[i], i == report.Evaluations.Count - 1 ? report.Samples : null, modes ?? [], std);
        for (int i = 0; i < report.ImageEvaluations.Count; i++)
            Evaluated(report.ImageEvaluations[i], i == report.ImageEvaluations.Count - 1 ? report.Samples : null);
        foreach (var e in lineage)
            Text("pbt", e.Step, $"exploited {e.DonorId} at step {e.DonorStep}; explored: {e.NewHyperparameters} (was {e.OldHyperparameters})");
    }

    public void Text(string tag, long step, string text)
    {
        lock (gate) writer.add_text(tag, text, checked((int)step));
    }

    private void Scalars(long step, params (string Tag, double Value)[] values)
    {
        lock (gate)
            foreach (var (tag, value) in values)
                if (!double.IsNaN(value)) writer.add_scalar(tag, (float)value, checked((int)step));
    }

    /// <summary>An HWC RGB picture (bytes).</summary>
    private void Image(string tag, long step, (byte[] Pixels, int Height, int Width) picture)
    {
        using var image = tensor(picture.Pixels, [picture.Height, picture.Width, 3], ScalarType.Byte);
        lock (gate) writer.add_img(tag, image, checked((int)step), dataformats: "HWC");
    }
}

/// <summary>Pictures of samples as RGB pixels, drawn without a plotting library (the silo has none).</summary>
public static class SamplePictures
{
    private const int Size = 320;

    /// <summary>2-D samples (blue) over the modes (grey discs of 3 std), on a square around the modes.</summary>
    public static (byte[] Pixels, int Height, int Width) Scatter(float[] xy, float[][] modes, double std)
    {
        var pixels = Enumerable.Repeat((byte)255, Size * Size * 3).ToArray();
        double lo = modes.Min(m => Math.Min(m[0], m[1])), hi = modes.Max(m => Math.Max(m[0], m[1]));
        double margin = Math.Max(0.25 * (hi - lo), 10 * std) + 1e-6;
        lo -= margin;
        hi += margin;
        double scale = (Size - 1) / (hi - lo);
        void Dot(double x, double y, int radius, byte r, byte g, byte b)
        {
            int cx = (int)Math.Round((x - lo) * scale), cy = (int)Math.Round((hi - y) * scale);
            for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++)
                {
                    int px = cx + dx, py = cy + dy;
                    if (px < 0 || py < 0 || px >= Size || py >= Size || dx * dx + dy * dy > radius * radius) continue;
                    int i = (py * Size + px) * 3;
                    pixels[i] = r;
                    pixels[i + 1] = g;
                    pixels[i + 2] = b;
                }
        }
        int modeRadius = Math.Max(2, (int)Math.Round(3 * std * scale));
        foreach (var m in modes) Dot(m[0], m[1], modeRadius, 210, 210, 210);
        for (int i = 0; i + 1 < xy.Length; i += 2)
            if (float.IsFinite(xy[i]) && float.IsFinite(xy[i + 1])) Dot(xy[i], xy[i + 1], 1, 31, 119, 180);
        return (pixels, Size, Size);
    }

    /// <summary>Up to 100 grayscale images in [−1, 1] as a 10-wide grid.</summary>
    public static (byte[] Pixels, int Height, int Width) Grid(float[] images, long count, long height, long width)
    {
        int n = (int)Math.Min(count, 100), columns = Math.Min(n, 10), rows = (n + columns - 1) / columns;
        int h = (int)height, w = (int)width, H = rows * h, W = columns * w;
        var pixels = new byte[H * W * 3];
        for (int k = 0; k < n; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float v = images[(k * h + y) * w + x];
                    byte b = (byte)Math.Clamp((int)Math.Round((v + 1) * 127.5), 0, 255);
                    int i = (((k / columns) * h + y) * W + (k % columns) * w + x) * 3;
                    pixels[i] = pixels[i + 1] = pixels[i + 2] = b;
                }
        return (pixels, H, W);
    }
}
