using GanCluster.Contracts.Members;
using GanCluster.Contracts.Specs;
using GanCluster.Contracts.Sweeps;
using GanCluster.Grains.Specs;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Sweeps;

[Collection(ClusterCollection.Name)]
public class SweepGrainTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private static GanSpec Sweep(string strategy, int concurrency, long steps, Dictionary<string, SearchDimensionSpec> space, int members = 4) =>
        TestSpecs.SmallRing(steps) with
        {
            Search = new SearchSpec { Strategy = strategy, Concurrency = concurrency, MembersPerPopulation = members, Space = space, Seed = 5 },
            Evaluation = new() { Every = steps, Samples = 500, MinSamplesPerMode = 10 },
        };

    [Fact]
    public async Task A_grid_sweep_trains_every_point_and_never_exceeds_its_concurrency()
    {
        var spec = Sweep("grid", 2, 150, new()
        {
            ["training.dStepsPerGStep"] = new() { IntRange = [1, 2] },
            ["loss.generator"] = new() { Choice = ["\"minimax\"", "\"non_saturating\""] },
        });
        var sweep = fixture.Client.GetGrain<ISweepGrain>("grid-sweep");
        var submitted = await sweep.SubmitAsync(spec);
        Assert.Equal(4, submitted.Members.Count);
        Assert.Equal(4, submitted.Members.Select(m => m.Hyperparameters).Distinct().Count());

        int mostSeen = 0;
        var done = await Eventually.WaitAsync(async () =>
        {
            var s = await sweep.GetStatusAsync();
            mostSeen = Math.Max(mostSeen, s.Members.Count(m => m.State is MemberState.Running or MemberState.Pending && m.Started));
            return s;
        }, s => s.State == SweepState.Completed, Timeout, "the sweep to complete");
        Assert.All(done.Members, m => Assert.Equal(MemberState.Completed, m.State));
        Assert.All(done.Members, m => Assert.NotNull(m.Fitness));
        Assert.InRange(mostSeen, 1, 2);
        Assert.InRange(done.MostRunning, 1, 2);
        Assert.NotNull(done.Best);
        // Each member trained the point it was planned for.
        foreach (var m in done.Members)
        {
            var report = await fixture.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetReportAsync();
            Assert.Contains($"training.dStepsPerGStep={report.Spec.Training.DStepsPerGStep}", m.Hyperparameters);
            Assert.Contains($"loss.generator=\"{report.Spec.Loss.Generator}\"", m.Hyperparameters);
        }
    }

    [Fact]
    public async Task Cancel_stops_every_member_and_leaves_their_checkpoints()
    {
        var spec = Sweep("random", 2, 1_000_000, new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } }, members: 3)
            with { Checkpoint = new() { Every = 1_000_000 } };
        var sweep = fixture.Client.GetGrain<ISweepGrain>("cancelled-sweep");
        await sweep.SubmitAsync(spec);
        await Eventually.WaitAsync(() => sweep.GetStatusAsync().AsTask(), s => s.Members.Count(m => m.Step > 10) == 2, Timeout, "two members training");
        var cancelled = await sweep.CancelAsync();
        Assert.Equal(SweepState.Cancelled, cancelled.State);
        Assert.All(cancelled.Members, m => Assert.Equal(MemberState.Cancelled, m.State));
        var started = cancelled.Members.Where(m => m.Started).ToList();
        Assert.Equal(2, started.Count);
        var store = new GanCluster.Grains.Storage.FileCheckpointStore(fixture.DataDirectory);
        foreach (var m in started)
        {
            var status = await fixture.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetStatusAsync();
            Assert.Equal(status.Step, status.CheckpointStep);
            Assert.Equal(status.Step, (await store.ListManifestsAsync(m.MemberId))[0].Step);
        }
        Assert.False(cancelled.Members.Single(m => !m.Started).Started);
    }

    [Fact]
    public async Task A_random_sweep_is_reproducible_by_its_seed_and_refuses_a_bad_space()
    {
        var space = new Dictionary<string, SearchDimensionSpec> { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } };
        var a = GanCluster.Grains.Sweeps.SweepPlanner.Plan("a", Sweep("random", 1, 10, space));
        var b = GanCluster.Grains.Sweeps.SweepPlanner.Plan("b", Sweep("random", 1, 10, space));
        Assert.Equal(a.Select(p => p.Spec.Optimizer.GeneratorLr), b.Select(p => p.Spec.Optimizer.GeneratorLr));
        Assert.All(a, p => Assert.InRange(p.Spec.Optimizer.GeneratorLr, 1e-4, 1e-2));

        var bad = Sweep("grid", 1, 10, new() { ["training.batchSize"] = new() { IntRange = [0, 2] } });
        var e = await Assert.ThrowsAsync<SpecException>(() => fixture.Client.GetGrain<ISweepGrain>("bad-sweep").SubmitAsync(bad).AsTask());
        Assert.Contains(e.Problems, p => p.Contains("training.batchSize: must be between 1 and 65536, got 0"));
        Assert.Empty((await fixture.Client.GetGrain<ISweepGrain>("bad-sweep").GetStatusAsync()).Members);
    }
}
