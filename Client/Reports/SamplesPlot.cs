using System.Globalization;
using ScottPlot;

namespace GanCluster.Client.Reports;

public static class SamplesPlot
{
    static readonly Color SampleColor = Color.FromHex("#1F77B4");
    static readonly Color ModeColor = Color.FromHex("#D62728");
    static readonly Color ZoneColor = Color.FromHex("#FF7F0E");

    public static void Write(string path, float[][] samples, float[][] modeCenters, double modeStd, string title)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(modeCenters);
        int dim = Dimension(samples, modeCenters);

        using var plot = new Plot();
        UseSansFont(plot);
        if (dim == 1)
        {
            Draw1D(plot, samples, modeCenters, modeStd, title);
            Save(plot, path, 900, 500);
        }
        else
        {
            Draw2D(plot, samples, modeCenters, modeStd, title);
            Save(plot, path, 800, 800);
        }
    }

    /// <summary>One 2-D scatter as PNG bytes, for composing panels.</summary>
    internal static byte[] Render2D(float[][] samples, float[][] modeCenters, double modeStd, string title, int width, int height)
    {
        using var plot = new Plot();
        UseSansFont(plot);
        Draw2D(plot, samples, modeCenters, modeStd, title);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    static int Dimension(float[][] samples, float[][] modeCenters)
    {
        int dim = samples.Length > 0 ? samples[0]?.Length ?? 0 : modeCenters.Length > 0 ? modeCenters[0]?.Length ?? 0 : 2;
        if (dim is not (1 or 2))
            throw new ArgumentException($"Rows must have length 1 or 2, got {dim}.", samples.Length > 0 ? nameof(samples) : nameof(modeCenters));
        if (samples.Any(r => r is null || r.Length != dim))
            throw new ArgumentException($"Every sample row must have length {dim}.", nameof(samples));
        if (modeCenters.Any(r => r is null || r.Length != dim))
            throw new ArgumentException($"Every mode centre must have length {dim}, like the samples.", nameof(modeCenters));
        return dim;
    }

    static void Draw2D(Plot plot, float[][] samples, float[][] modes, double std, string title)
    {
        var finite = samples.Where(r => float.IsFinite(r[0]) && float.IsFinite(r[1])).ToArray();
        double[] xs = finite.Select(r => (double)r[0]).ToArray();
        double[] ys = finite.Select(r => (double)r[1]).ToArray();
        double[] mx = modes.Select(r => (double)r[0]).ToArray();
        double[] my = modes.Select(r => (double)r[1]).ToArray();
        bool zones = double.IsFinite(std) && std > 0;

        var (x0, x1) = ViewRange(mx, xs, std);
        var (y0, y1) = ViewRange(my, ys, std);
        // Equal scaling: both axes get the larger span so circles stay round.
        double half = Math.Max(x1 - x0, y1 - y0) / 2;
        double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
        x0 = cx - half; x1 = cx + half; y0 = cy - half; y1 = cy + half;

        // Roughly 720 px of the 800 px image show the square view; rings smaller than ~9 px would vanish.
        double zonePx = zones ? 3 * std / (2 * half) * 720 : 0;
        if (zones)
        {
            foreach (var m in modes)
            {
                var fill = plot.Add.Circle(m[0], m[1], 3 * std);
                fill.FillColor = ZoneColor.WithAlpha(0.25);
                fill.LineWidth = 0;
            }
        }

        plot.Add.Markers(xs, ys, MarkerShape.FilledCircle, 3.5f, SampleColor.WithAlpha(0.35));

        // Rings go on top of the samples so that a covered mode still shows its outline.
        if (zonePx >= 9)
        {
            foreach (var m in modes)
            {
                var ring = plot.Add.Circle(m[0], m[1], 3 * std);
                ring.FillColor = Colors.Transparent;
                ring.LineColor = ModeColor;
                ring.LineWidth = 2;
            }
        }
        else
        {
            var rings = plot.Add.Markers(mx, my, MarkerShape.OpenCircle, 18, ModeColor);
            rings.MarkerLineWidth = 2;
        }
        var centres = plot.Add.Markers(mx, my, MarkerShape.Cross, 8, ModeColor);
        centres.MarkerLineWidth = 1.5f;

        int outside = xs.Where((x, i) => x < x0 || x > x1 || ys[i] < y0 || ys[i] > y1).Count();
        var items = new List<LegendItem>
        {
            new() { LabelText = $"generated ({N(finite.Length)})", MarkerShape = MarkerShape.FilledCircle, MarkerSize = 8, MarkerFillColor = SampleColor.WithAlpha(0.7), MarkerLineColor = SampleColor.WithAlpha(0.7) },
        };
        if (modes.Length > 0)
            items.Add(new() { LabelText = $"real modes ({N(modes.Length)})", MarkerShape = MarkerShape.OpenCircleWithCross, MarkerSize = 12, MarkerLineColor = ModeColor, MarkerLineWidth = 1.5f });
        if (zones && modes.Length > 0)
            items.Add(new() { LabelText = $"3σ zone (σ = {G(std)})", FillColor = ZoneColor.WithAlpha(0.35), OutlineColor = ZoneColor, OutlineWidth = 1 });
        plot.ShowLegend(items, Alignment.UpperRight);

        plot.Title(title);
        plot.XLabel(Subtitle2D(samples.Length, finite, modes, std, outside));
        plot.Axes.SetLimits(x0, x1, y0, y1);
        plot.Axes.SquareUnits();
    }

    static string Subtitle2D(int total, float[][] finite, float[][] modes, double std, int outside)
    {
        var parts = new List<string>();
        if (modes.Length > 0 && finite.Length > 0 && double.IsFinite(std) && std > 0)
        {
            double r2 = 9 * std * std;
            int good = 0;
            foreach (var s in finite)
            {
                int best = -1;
                double bestD2 = double.PositiveInfinity;
                for (int k = 0; k < modes.Length; k++)
                {
                    double dx = s[0] - modes[k][0], dy = s[1] - modes[k][1];
                    double d2 = dx * dx + dy * dy;
                    if (d2 < bestD2) { bestD2 = d2; best = k; }
                }
                if (bestD2 <= r2) good++;
            }
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{100.0 * good / finite.Length:0.0}% of samples within 3σ"));
        }
        if (outside > 0) parts.Add($"{N(outside)} outside view");
        if (finite.Length < total) parts.Add($"{N(total - finite.Length)} NaN/∞ dropped");
        return string.Join("   ·   ", parts);
    }

    static void Draw1D(Plot plot, float[][] samples, float[][] modes, double std, string title)
    {
        double[] xs = samples.Select(r => (double)r[0]).Where(double.IsFinite).ToArray();
        double[] centres = modes.Select(r => (double)r[0]).ToArray();
        bool hasDensity = centres.Length > 0 && double.IsFinite(std) && std > 0;
        var (lo, hi) = ViewRange(centres, xs, std);

        // Bins a fraction of σ wide show the real peaks' shape; the clamp keeps 40-200 bins whatever σ is.
        double span = hi - lo;
        double width = hasDensity ? Math.Clamp(std / 2, span / 200, span / 40) : span / 60;
        int bins = Math.Max(1, (int)Math.Ceiling(span / width));
        var counts = new int[bins];
        int outside = 0;
        foreach (double x in xs)
        {
            if (x < lo || x > hi) { outside++; continue; }
            counts[Math.Min(bins - 1, (int)((x - lo) / width))]++;
        }
        var bars = new List<Bar>(bins);
        for (int i = 0; i < bins; i++)
        {
            if (counts[i] == 0) continue;
            bars.Add(new Bar
            {
                Position = lo + (i + 0.5) * width,
                Value = counts[i] / (xs.Length * width),
                Size = width,
                FillColor = SampleColor.WithAlpha(0.55),
                LineWidth = 0,
            });
        }
        if (bars.Count > 0) plot.Add.Bars(bars);

        var items = new List<LegendItem>
        {
            new() { LabelText = $"generated ({N(xs.Length)}), density", FillColor = SampleColor.WithAlpha(0.55), OutlineWidth = 0 },
        };
        double top = bars.Count > 0 ? bars.Max(b => b.Value) : 0;
        if (hasDensity)
        {
            // Sample the curve densely and at each centre, so peaks narrower than the view's pixel pitch are not missed.
            var grid = Enumerable.Range(0, 2001).Select(i => lo + span * i / 2000.0).Concat(centres.Where(c => c >= lo && c <= hi)).Order().ToArray();
            double[] pdf = grid.Select(x => MixturePdf(x, centres, std)).ToArray();
            var curve = plot.Add.Scatter(grid, pdf, ModeColor);
            curve.MarkerSize = 0;
            curve.LineWidth = 2;
            top = Math.Max(top, pdf.Max());
            items.Add(new() { LabelText = $"real density ({N(centres.Length)} modes, σ = {G(std)})", LineColor = ModeColor, LineWidth = 2 });
        }
        plot.ShowLegend(items, Alignment.UpperRight);

        plot.Title(title);
        var notes = new List<string> { "x" };
        if (outside > 0) notes.Add($"{N(outside)} outside view");
        if (xs.Length < samples.Length) notes.Add($"{N(samples.Length - xs.Length)} NaN/∞ dropped");
        plot.XLabel(string.Join("   ·   ", notes));
        plot.YLabel("density");
        // Headroom above the tallest peak leaves space for the legend.
        plot.Axes.SetLimits(lo, hi, 0, top > 0 ? top * 1.25 : 1);
    }

    static double MixturePdf(double x, double[] centres, double std)
    {
        double sum = 0;
        foreach (double c in centres)
        {
            double z = (x - c) / std;
            sum += Math.Exp(-0.5 * z * z);
        }
        return sum / (centres.Length * std * Math.Sqrt(2 * Math.PI));
    }

    // The view covers every mode with a margin, widened to the 1st-99th percentile of the samples
    // so that a handful of wild outliers cannot squash the picture.
    static (double Lo, double Hi) ViewRange(double[] modes, double[] samples, double std)
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        if (modes.Length > 0)
        {
            lo = modes.Min();
            hi = modes.Max();
            double pad = Math.Max(0.15 * (hi - lo), double.IsFinite(std) && std > 0 ? 5 * std : 0);
            if (pad == 0) pad = 1;
            lo -= pad;
            hi += pad;
        }
        if (samples.Length > 0)
        {
            var sorted = samples.Order().ToArray();
            lo = Math.Min(lo, Percentile(sorted, 0.01));
            hi = Math.Max(hi, Percentile(sorted, 0.99));
        }
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) return (-1, 1);
        double margin = hi > lo ? 0.05 * (hi - lo) : Math.Max(1, Math.Abs(lo) * 0.1);
        return (lo - margin, hi + margin);
    }

    static double Percentile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int i = (int)pos;
        return i + 1 < sorted.Length ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
    }

    // ScottPlot's own pick resolves "sans" to DejaVu Serif on Debian with the no-dependencies Skia build.
    static readonly Lazy<string?> SansFont = new(() =>
    {
        var installed = SkiaSharp.SKFontManager.Default.FontFamilies.ToHashSet(StringComparer.OrdinalIgnoreCase);
        return ((string[])["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"]).FirstOrDefault(installed.Contains);
    });

    internal static void UseSansFont(Plot plot)
    {
        if (SansFont.Value is { } name) plot.Font.Set(name);
    }

    // Written to a temporary file first so that a reader never sees half a PNG.
    internal static void Save(Plot plot, string path, int width, int height) => WriteAtomic(path, plot.GetImageBytes(width, height, ImageFormat.Png));

    internal static void WriteAtomic(string path, byte[] bytes)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = $"{full}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, overwrite: true);
    }

    static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);

    static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
