using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using ScottPlot;

namespace GanCluster.Client.Reports;

/// <summary>Fitness over steps, one line per member of a sweep, with PBT's exploit events marked.</summary>
public static class FitnessPlot
{
    public static void Write(string path, IReadOnlyList<MemberReport> members, IReadOnlyList<LineageEntry> lineage, string title)
    {
        using var plot = new Plot();
        SamplesPlot.UseSansFont(plot);
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < members.Count; i++)
        {
            var m = members[i];
            var points = m.Evaluations.Select(e => (e.Step, Fitness: Fitness.Of(e)))
                .Concat(m.ImageEvaluations.Select(e => (e.Step, Fitness: Fitness.Of(e) ?? double.NaN)))
                .OrderBy(p => p.Step).ToArray();
            if (points.Length == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Fitness).ToArray(), palette.GetColor(i));
            line.LegendText = m.Status.MemberId.Split('-').TakeLast(2).Aggregate((a, b) => $"{a}-{b}");
            line.LineWidth = 2;
            foreach (var e in lineage.Where(l => l.MemberId == m.Status.MemberId))
            {
                var at = points.Where(p => p.Step <= e.DonorStep).LastOrDefault();
                var marker = plot.Add.Marker(e.DonorStep, at.Fitness, MarkerShape.FilledTriangleUp, 12, palette.GetColor(i));
                marker.LegendText = "";
            }
        }
        plot.Title(lineage.Count > 0 ? $"{title} (▲ exploit: member continues from a donor's checkpoint)" : title);
        plot.XLabel("step");
        plot.YLabel("fitness");
        plot.ShowLegend(Alignment.UpperLeft);
        SamplesPlot.Save(plot, path, 1000, 600);
    }
}
