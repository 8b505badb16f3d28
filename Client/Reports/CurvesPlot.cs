using System.Globalization;
using ScottPlot;

namespace GanCluster.Client.Reports;

public static class CurvesPlot
{
    const int Width = 1000, Height = 700;

    public static void Write(string path, long[] steps, double[] dLoss, double[] gLoss, double[] dReal, double[] dFake, string title)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(steps);
        SameLength(steps, dLoss, nameof(dLoss));
        SameLength(steps, gLoss, nameof(gLoss));
        SameLength(steps, dReal, nameof(dReal));
        SameLength(steps, dFake, nameof(dFake));

        // Steps merged from several workers may arrive out of order; a line drawn in array order would zigzag.
        int[] order = Enumerable.Range(0, steps.Length).OrderBy(i => steps[i]).ToArray();
        using var losses = new Plot();
        using var outputs = new Plot();
        // Multiplot() would start with a blank subplot of its own.
        var multiplot = new Multiplot(losses);
        multiplot.AddPlot(outputs);

        SamplesPlot.UseSansFont(losses);
        SamplesPlot.UseSansFont(outputs);
        // Equal fixed padding keeps the two data areas aligned on the shared step axis;
        // the wide right margin holds the legends, so they never cover the late, interesting steps.
        losses.Layout.Fixed(new PixelPadding(75, 170, 45, 50));
        outputs.Layout.Fixed(new PixelPadding(75, 170, 55, 20));

        losses.Title(title);
        losses.YLabel("loss");
        bool anyLoss = AddSeries(losses, steps, order, dLoss, "D loss", Color.FromHex("#1F77B4"));
        anyLoss |= AddSeries(losses, steps, order, gLoss, "G loss", Color.FromHex("#FF7F0E"));

        outputs.XLabel("step");
        outputs.YLabel("mean D(·)");
        bool anyOutput = AddSeries(outputs, steps, order, dReal, "D(x), real", Color.FromHex("#2CA02C"));
        anyOutput |= AddSeries(outputs, steps, order, dFake, "D(G(z)), fake", Color.FromHex("#D62728"));
        var ideal = outputs.Add.HorizontalLine(0.5, 1.5f, Colors.Gray, LinePattern.Dashed);
        ideal.LegendText = "D* = 1/2";

        string empty = steps.Length == 0 ? "no data yet" : "no finite values yet";
        Finish(losses, anyLoss, empty);
        Finish(outputs, anyOutput, empty);
        if (anyLoss) losses.Axes.AutoScale();
        outputs.Axes.SetLimitsY(0, 1);

        var (lo, hi) = StepRange(steps);
        foreach (var plot in (Plot[])[losses, outputs])
        {
            plot.Axes.SetLimitsX(lo, hi);
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                IntegerTicksOnly = true,
                LabelFormatter = v => v.ToString("N0", CultureInfo.InvariantCulture),
            };
        }

        using var image = multiplot.Render(Width, Height);
        SamplesPlot.WriteAtomic(path, image.GetImageBytes(ImageFormat.Png));
    }

    static void SameLength(long[] steps, double[] values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.Length != steps.Length)
            throw new ArgumentException($"{name} has {values.Length} values but steps has {steps.Length}.", name);
    }

    // NaN and infinite values are dropped, so a diverged step leaves a gap-free line of the finite ones.
    static bool AddSeries(Plot plot, long[] steps, int[] order, double[] ys, string label, Color color)
    {
        var keep = order.Where(i => double.IsFinite(ys[i])).ToArray();
        if (keep.Length == 0) return false;
        var line = plot.Add.Scatter(keep.Select(i => (double)steps[i]).ToArray(), keep.Select(i => ys[i]).ToArray(), color);
        line.LegendText = label;
        line.LineWidth = 1.5f;
        // Markers only while points are few enough to tell apart; a single point would otherwise be invisible.
        line.MarkerSize = keep.Length <= 60 ? 5 : 0;
        return true;
    }

    static void Finish(Plot plot, bool hasData, string emptyNote)
    {
        plot.ShowLegend(Edge.Right);
        if (hasData) return;
        // Upper centre, clear of the dashed D* line through the middle of the lower panel.
        var note = plot.Add.Annotation(emptyNote, Alignment.UpperCenter);
        note.OffsetY = 25;
        note.LabelFontSize = 22;
        note.LabelFontColor = Colors.Gray;
        note.LabelBackgroundColor = Colors.Transparent;
        note.LabelBorderWidth = 0;
        note.LabelShadowColor = Colors.Transparent;
        plot.Axes.SetLimitsY(0, 1);
    }

    static (double Lo, double Hi) StepRange(long[] steps)
    {
        if (steps.Length == 0) return (0, 1);
        double lo = steps.Min(), hi = steps.Max();
        if (hi <= lo) return (lo - 1, hi + 1);
        double pad = 0.02 * (hi - lo);
        return (lo - pad, hi + pad);
    }
}
