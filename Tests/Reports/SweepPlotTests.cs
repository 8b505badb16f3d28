using GanCluster.Client.Reports;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Reports;

/// <summary>The sweep's figures: hyperparameters against fitness (parallel coordinates) and the PBT lineage as a tree.</summary>
public class SweepPlotTests
{
    private static SweepStatus Status(params (string Id, string Hyperparameters, double? Fitness)[] members) => new()
    {
        SweepId = "s",
        Strategy = "random",
        Members = members.Select(m => new SweepMember(m.Id, 0, MemberState.Completed, 100, 100, m.Fitness, m.Hyperparameters, true)).ToArray(),
    };

    [Fact]
    public void Hyperparameters_are_placed_on_log_linear_or_choice_axes_and_drawn()
    {
        var status = Status(
            ("s-p0-m0", "loss.kind=\"hinge\", optimizer.generatorLr=0.0001, training.batchSize=64", 0.2),
            ("s-p0-m1", "loss.kind=\"standard\", optimizer.generatorLr=0.001, training.batchSize=128", 0.9),
            ("s-p0-m2", "loss.kind=\"hinge\", optimizer.generatorLr=0.01, training.batchSize=256", null));
        var layout = HyperparameterPlot.Arrange(status)!;
        Assert.Equal(["loss.kind", "optimizer.generatorLr", "training.batchSize"], layout.Axes);
        // The learning rate spans 100×: a log axis, so 1e-3 sits in the middle; the batch size (4×) is linear.
        Assert.Equal([0.0, 0.5, 1.0], layout.Members.Select(m => Math.Round(m.Positions[1]!.Value, 9)));
        Assert.Equal([0.0, 1 / 3.0, 1.0], layout.Members.Select(m => Math.Round(m.Positions[2]!.Value, 9)).ToArray(), new ToleranceComparer(1e-9));
        Assert.Equal([0.0, 1.0, 0.0], layout.Members.Select(m => m.Positions[0]!.Value));
        Assert.Equal(("1E-4 (log)", "0.01"), layout.Labels[1]);
        Assert.Equal(("hinge", "standard"), layout.Labels[0]);

        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "hyperparameters.png");
        Assert.True(HyperparameterPlot.Write(path, status));
        if (Environment.GetEnvironmentVariable("GANCLUSTER_KEEP_PLOT") is { } keep) File.Copy(path, keep, true);
        Assert.True(new FileInfo(path).Length > 10_000);
    }

    [Fact]
    public void A_sweep_cancelled_before_any_fitness_still_draws_its_hyperparameters()
    {
        // What SIGTERM on a fresh sweep leaves: started members, none evaluated yet.
        var status = Status(("s-p0-m0", "optimizer.generatorLr=0.0001", null), ("s-p0-m1", "optimizer.generatorLr=0.001", null));
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "hyperparameters.png");
        Assert.True(HyperparameterPlot.Write(path, status));
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void A_sweep_that_searched_nothing_has_no_hyperparameter_figure()
    {
        Assert.Null(HyperparameterPlot.Arrange(Status(("a", "", 0.5), ("b", "", 0.4))));
        using var dir = new TempDirectory();
        Assert.False(HyperparameterPlot.Write(Path.Combine(dir.Path, "h.png"), Status(("a", "", 0.5))));
        Assert.False(File.Exists(Path.Combine(dir.Path, "h.png")));
    }

    [Fact]
    public void Each_exploit_is_an_edge_from_the_donors_checkpoint_to_the_members_next_evaluation()
    {
        static MemberReport Member(string id, params (long Step, int Modes)[] evaluations) => new()
        {
            Status = new MemberStatus { MemberId = id, State = MemberState.Completed, Step = 300 },
            Spec = TestSpecs.SmallRing(),
            Evaluations = evaluations.Select(e => new MixtureMetrics(e.Step, e.Modes, 8, 1.0, 0.1, 0.5, 0.5)).ToArray(),
        };
        var members = new[] { Member("m0", (100, 4), (200, 8), (300, 8)), Member("m1", (100, 2), (200, 2), (300, 6)) };
        var curves = members.Select(m => m.Evaluations.Select(e => (e.Step, Fitness.Of(e))).ToArray()).ToList();
        var lineage = new[]
        {
            new LineageEntry("m1", 200, "m0", 200, "lr=1", "lr=2", DateTimeOffset.UtcNow),
            new LineageEntry("m1", 300, "gone", 300, "", "", DateTimeOffset.UtcNow), // a donor not in the report: no edge
        };
        var edge = Assert.Single(FitnessPlot.LineageEdges(members, curves, lineage));
        Assert.Equal((0, 200L, 1.0), edge.From);
        Assert.Equal((1, 300L, 0.75), edge.To);

        using var dir = new TempDirectory();
        FitnessPlot.Write(Path.Combine(dir.Path, "fitness.png"), members, lineage, "sweep s");
        Assert.True(new FileInfo(Path.Combine(dir.Path, "fitness.png")).Length > 10_000);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double value) => 0;
    }
}
