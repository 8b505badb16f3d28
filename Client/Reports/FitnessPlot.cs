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
        var curves = members.Select(m => m.Evaluations.Select(e => (e.Step, Fitness: Fitness.Of(e)))
            .Concat(m.ImageEvaluations.Select(e => (e.Step, Fitness: Fitness.Of(e) ?? double.NaN)))
            .OrderBy(p => p.Step).ToArray()).ToList();
        for (int i = 0; i < members.Count; i++)
        {
            var points = curves[i];
            if (points.Length == 0) continue;
            var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Fitness).ToArray(), palette.GetColor(i));
            line.LegendText = members[i].Status.MemberId.Split('-').TakeLast(2).Aggregate((a, b) => $"{a}-{b}");
            line.LineWidth = 2;
        }
        // The lineage as a tree: an arrow from the donor's curve where its checkpoint was taken to the member that
        // continued from it (its next evaluation), in the donor's colour.
        foreach (var (from, to) in LineageEdges(members, curves, lineage))
        {
            var arrow = plot.Add.Arrow(new Coordinates(from.Step, from.Fitness), new Coordinates(to.Step, to.Fitness));
            arrow.ArrowLineColor = arrow.ArrowFillColor = palette.GetColor(from.Member).WithAlpha(0.8);
            arrow.ArrowLineWidth = 1.5f;
        }
        plot.Title(lineage.Count > 0 ? $"{title} (arrows: PBT exploits, from the donor's checkpoint to the member that continued from it)" : title);
        plot.XLabel("step");
        plot.YLabel("fitness");
        plot.ShowLegend(Alignment.UpperLeft);
        SamplesPlot.Save(plot, path, 1000, 600);
    }

    /// <summary>
    /// Each exploit as an edge: from the donor's fitness at its checkpoint's step (the last evaluation at or before it)
    /// to the recipient's first evaluation after the exploit. Members and exploits without such points are left out.
    /// </summary>
    public static IEnumerable<((int Member, long Step, double Fitness) From, (int Member, long Step, double Fitness) To)> LineageEdges(
        IReadOnlyList<MemberReport> members, IReadOnlyList<(long Step, double Fitness)[]> curves, IReadOnlyList<LineageEntry> lineage)
    {
        int IndexOf(string id)
        {
            for (int i = 0; i < members.Count; i++) if (members[i].Status.MemberId == id) return i;
            return -1;
        }
        foreach (var e in lineage)
        {
            int donor = IndexOf(e.DonorId), recipient = IndexOf(e.MemberId);
            if (donor < 0 || recipient < 0) continue;
            var from = curves[donor].Where(p => p.Step <= e.DonorStep).Select(p => ((long, double)?)p).LastOrDefault();
            var to = curves[recipient].Where(p => p.Step > e.Step).Select(p => ((long, double)?)p).FirstOrDefault();
            if (from is not { } f || to is not { } t) continue;
            yield return ((donor, f.Item1, f.Item2), (recipient, t.Item1, t.Item2));
        }
    }
}
