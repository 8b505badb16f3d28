using System.Globalization;
using GanCluster.Contracts.Sweeps;
using ScottPlot;

namespace GanCluster.Client.Reports;

/// <summary>
/// hyperparameters.png: parallel coordinates of a sweep — one vertical axis per searched hyperparameter (its range
/// scaled to [0, 1], logarithmically when it spans more than ten times), one line per member through its values,
/// coloured by its final fitness (dark: low, bright: high) and the best drawn thickest.
/// </summary>
public static class HyperparameterPlot
{
    /// <summary>A member's position on each axis in [0, 1]; the axes in order; each axis' low and high label.</summary>
    public sealed record Layout(IReadOnlyList<string> Axes, IReadOnlyList<(string Low, string High)> Labels, IReadOnlyList<(string MemberId, double?[] Positions, double? Fitness)> Members);

    /// <summary>Null when the sweep searched nothing (every member has the same settings).</summary>
    public static Layout? Arrange(SweepStatus status)
    {
        var members = status.Members.Where(m => m.Started).Select(m => (m.MemberId, Values: Parse(m.Hyperparameters), m.Fitness)).ToList();
        var axes = members.SelectMany(m => m.Values.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        if (axes.Count == 0) return null;
        var labels = new List<(string, string)>();
        var scales = new List<Func<string, double?>>();
        foreach (var axis in axes)
        {
            var raw = members.Select(m => m.Values.GetValueOrDefault(axis)).OfType<string>().ToList();
            var numbers = raw.Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : (double?)null).ToList();
            if (numbers.All(n => n is not null))
            {
                double lo = numbers.Min()!.Value, hi = numbers.Max()!.Value;
                bool log = lo > 0 && hi / lo > 10;
                double Map(double v) => hi == lo ? 0.5 : log ? Math.Log(v / lo) / Math.Log(hi / lo) : (v - lo) / (hi - lo);
                scales.Add(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? Map(d) : null);
                labels.Add((Format(lo) + (log ? " (log)" : ""), Format(hi)));
            }
            else
            {
                // Choices that are not numbers (a loss, an architecture): evenly spaced, in order.
                var choices = raw.Distinct().Order(StringComparer.Ordinal).ToList();
                scales.Add(v => choices.Count == 1 ? 0.5 : choices.IndexOf(v) / (double)(choices.Count - 1));
                labels.Add((choices[0], choices[^1]));
            }
        }
        return new Layout(axes, labels, members.Select(m => (m.MemberId,
            axes.Select((a, i) => m.Values.TryGetValue(a, out var v) ? scales[i](v) : null).ToArray(), m.Fitness)).ToList());
    }

    public static bool Write(string path, SweepStatus status)
    {
        var layout = Arrange(status);
        if (layout is null) return false;
        using var plot = new Plot();
        SamplesPlot.UseSansFont(plot);
        var fitted = layout.Members.Where(m => m.Fitness is not null).Select(m => m.Fitness!.Value).ToList();
        double lo = fitted.DefaultIfEmpty(0).Min(), hi = fitted.DefaultIfEmpty(1).Max();
        var colormap = new ScottPlot.Colormaps.Viridis();
        // No member may have a fitness yet (a sweep cancelled before its first evaluation): then none is the best.
        var best = fitted.Count > 0 ? layout.Members.Where(m => m.Fitness is not null).MaxBy(m => m.Fitness) : default;
        foreach (var m in layout.Members.OrderBy(m => m.Fitness ?? double.NegativeInfinity))
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < m.Positions.Length; i++)
                if (m.Positions[i] is double y) { xs.Add(i); ys.Add(y); }
            var color = m.Fitness is double f ? colormap.GetColor(hi > lo ? (f - lo) / (hi - lo) : 1) : Colors.Gray.WithAlpha(0.5);
            var line = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), color);
            line.LineWidth = m == best ? 4 : 1.5f;
            line.MarkerSize = m == best ? 8 : 4;
            if (m == best) line.LegendText = $"best: {m.MemberId.Split('-').TakeLast(2).Aggregate((a, b) => $"{a}-{b}")} (fitness {m.Fitness:F3})";
        }
        for (int i = 0; i < layout.Axes.Count; i++)
        {
            var axis = plot.Add.VerticalLine(i, 1, Colors.Black);
            axis.LinePattern = LinePattern.Solid;
            var low = plot.Add.Text(layout.Labels[i].Low, i, -0.04);
            low.LabelAlignment = Alignment.UpperCenter;
            var high = plot.Add.Text(layout.Labels[i].High, i, 1.04);
            high.LabelAlignment = Alignment.LowerCenter;
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, layout.Axes.Count).Select(i => (double)i).ToArray(), layout.Axes.ToArray());
        plot.Axes.SetLimits(-0.5, layout.Axes.Count - 0.5, -0.15, 1.3);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual([0, 1], ["low", "high"]);
        plot.Title($"sweep {status.SweepId}: hyperparameters against final fitness (colour: {Format(lo)} dark … {Format(hi)} bright)");
        plot.ShowLegend(Alignment.UpperRight);
        SamplesPlot.Save(plot, path, 1000, 600);
        return true;
    }

    /// <summary>"a=1, b=\"x\"" (SearchSpace.Describe) back to a dictionary.</summary>
    public static Dictionary<string, string> Parse(string hyperparameters) =>
        hyperparameters.Split(", ", StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1].Trim('"'));

    private static string Format(double v) => v.ToString(Math.Abs(v) is > 0 and (< 0.01 or >= 10000) ? "0.##E+0" : "0.####", CultureInfo.InvariantCulture);
}
