using GanCluster.Contracts.Members;
using GanCluster.Grains.Members;

namespace GanCluster.Tests.Grains;

public class TrainingCurveTests
{
    /// <summary>The points a member logs every <paramref name="every"/> steps up to <paramref name="total"/> (and at <paramref name="total"/>).</summary>
    private static IEnumerable<CurvePoint> Logged(long total, long every)
    {
        for (long step = every; step < total + every; step += every)
        {
            long at = Math.Min(step, total);
            double x = at;
            yield return new CurvePoint(at, Math.Sin(x / 977), Math.Cos(x / 313), 0.5 + 0.001 * (x % 17), 0.25) { GradNormG = x % 7, GradNormD = 1 };
        }
    }

    [Fact]
    public void A_long_member_keeps_a_bounded_evenly_spread_curve_that_ends_at_the_last_step_and_keeps_the_means()
    {
        const long total = 1_000_005;
        var curve = new List<CurvePoint>();
        double dLossSum = 0, gradSum = 0;
        long previous = 0;
        CurvePoint? last = null;
        foreach (var point in Logged(total, 10))
        {
            TrainingCurve.Append(curve, point);
            Assert.True(curve.Count <= TrainingCurve.MaxPoints, $"{curve.Count} points after step {point.Step}");
            Assert.Same(point, curve[^1]);
            dLossSum += point.DLoss * (point.Step - previous);
            gradSum += point.GradNormG * (point.Step - previous);
            previous = point.Step;
            last = point;
        }

        // The latest interval is kept as logged, and the curve ends at the member's last step.
        Assert.Equal(total, curve[^1].Step);
        Assert.Equal(last, curve[^1]);
        Assert.True(curve.Count > TrainingCurve.MaxPoints / 4, $"only {curve.Count} points left");
        // Strictly increasing steps, and no stretch of the run coarser than an even spread of an eighth of the cap.
        var spans = curve.Select((p, i) => p.Step - (i == 0 ? 0 : curve[i - 1].Step)).ToArray();
        Assert.All(spans, s => Assert.True(s > 0));
        Assert.True(spans.Max() <= total / (TrainingCurve.MaxPoints / 8), $"spans {spans.Min()}–{spans.Max()} over {curve.Count} points");
        // Each point is the mean over its steps, so the step-weighted mean over the whole run is unchanged.
        double dLossCurve = curve.Select((p, i) => p.DLoss * spans[i]).Sum();
        double gradCurve = curve.Select((p, i) => p.GradNormG * spans[i]).Sum();
        Assert.Equal(dLossSum / total, dLossCurve / total, 9);
        Assert.Equal(gradSum / total, gradCurve / total, 9);
    }

    [Fact]
    public void A_short_member_keeps_every_point()
    {
        var curve = new List<CurvePoint>();
        var logged = Logged(15_000, 10).ToList();
        foreach (var point in logged) TrainingCurve.Append(curve, point);
        Assert.Equal(logged, curve);
    }

    [Fact]
    public void A_member_resumed_from_its_persisted_curve_thins_exactly_as_one_that_ran_straight_through()
    {
        var logged = Logged(200_000, 10).ToList();
        var straight = new List<CurvePoint>();
        foreach (var point in logged) TrainingCurve.Append(straight, point);

        var before = new List<CurvePoint>();
        foreach (var point in logged.Take(12_345)) TrainingCurve.Append(before, point);
        var resumed = new List<CurvePoint>(before.ToArray());
        foreach (var point in logged.Skip(12_345)) TrainingCurve.Append(resumed, point);

        Assert.Equal(straight, resumed);
    }

    [Fact]
    public void Unevenly_logged_points_still_thin_to_the_cap()
    {
        // Intervals of 1, 2, 3, ... steps (a member rewound and replayed, or logging at odd steps).
        var curve = new List<CurvePoint>();
        long step = 0;
        for (int i = 1; i <= 20_000; i++)
        {
            step += 1 + i % 5;
            TrainingCurve.Append(curve, new CurvePoint(step, 1, 1, 0.5, 0.5), cap: 64);
            Assert.True(curve.Count <= 64);
        }
        Assert.Equal(step, curve[^1].Step);
        Assert.True(curve.Zip(curve.Skip(1)).All(p => p.First.Step < p.Second.Step));
    }
}
