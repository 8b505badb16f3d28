using GanCluster.Contracts.Members;

namespace GanCluster.Grains.Members;

/// <summary>
/// Keeps a member's training curve bounded, however long it trains: when the curve grows past
/// <see cref="MaxPoints"/>, adjacent pairs of its finest points are merged into one point (the step-weighted mean of
/// the two, at the later step), so the curve stays evenly spread over the whole run at a coarser interval. Each point
/// stays the mean over the steps since the point before it; the last point (the latest interval) is never merged.
/// The thinning depends only on the points, so a resumed member thins exactly as one that ran straight through.
/// </summary>
public static class TrainingCurve
{
    /// <summary>Most points a member keeps in memory and in its persisted state.</summary>
    public const int MaxPoints = 2048;

    /// <summary>Appends <paramref name="point"/> and thins the curve once it holds more than <paramref name="cap"/> points.</summary>
    public static void Append(List<CurvePoint> curve, CurvePoint point, int cap = MaxPoints)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, 4);
        curve.Add(point);
        if (curve.Count <= cap) return;
        // Merge until a quarter of the room is free again, so the work (linear in the curve) comes once per
        // cap / 4 appends at most.
        while (curve.Count > cap * 3 / 4)
            MergeFinest(curve);
    }

    /// <summary>One pass: merges adjacent pairs of points whose steps span the smallest interval in the curve.</summary>
    private static void MergeFinest(List<CurvePoint> curve)
    {
        int last = curve.Count - 1;
        long finest = long.MaxValue;
        for (int i = 0; i < last; i++)
            finest = Math.Min(finest, Span(curve, i));
        var kept = new List<CurvePoint>(curve.Count);
        int at = 0;
        while (at < last)
        {
            // Pairs (at, at + 1) of two finest points merge; the last point is never part of a pair.
            if (at + 1 < last && Span(curve, at) == finest && Span(curve, at + 1) == finest)
            {
                kept.Add(Merge(curve[at], curve[at + 1], finest, finest));
                at += 2;
            }
            else
            {
                kept.Add(curve[at]);
                at++;
            }
        }
        kept.Add(curve[last]);
        if (kept.Count == curve.Count)
        {
            // No two finest points are neighbours (finest ones alternate with coarser ones): merge the first finest
            // point with its right neighbour instead, so every pass makes progress.
            int i = Enumerable.Range(0, last).First(i => Span(curve, i) == finest);
            if (i + 1 >= last) i = Math.Max(0, i - 1);
            var merged = Merge(curve[i], curve[i + 1], Span(curve, i), Span(curve, i + 1));
            curve.RemoveAt(i + 1);
            curve[i] = merged;
            return;
        }
        curve.Clear();
        curve.AddRange(kept);
    }

    /// <summary>Steps covered by point <paramref name="i"/>: since the point before it, or since step 0.</summary>
    private static long Span(List<CurvePoint> curve, int i) => curve[i].Step - (i == 0 ? 0 : curve[i - 1].Step);

    private static CurvePoint Merge(CurvePoint a, CurvePoint b, long spanA, long spanB)
    {
        double wa = spanA, wb = spanB, n = wa + wb;
        double Mean(double x, double y) => (x * wa + y * wb) / n;
        return new CurvePoint(b.Step, Mean(a.DLoss, b.DLoss), Mean(a.GLoss, b.GLoss), Mean(a.DReal, b.DReal), Mean(a.DFake, b.DFake))
        {
            GradNormG = Mean(a.GradNormG, b.GradNormG),
            GradNormD = Mean(a.GradNormD, b.GradNormD),
        };
    }
}
