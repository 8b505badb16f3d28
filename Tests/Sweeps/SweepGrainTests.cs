using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
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

    /// <summary>Waits for a sweep to complete; on timeout says where every member is, and what the silo logged.</summary>
    private async Task<SweepStatus> CompletedAsync(ISweepGrain sweep, string what)
    {
        try
        {
            return await Eventually.WaitAsync(() => sweep.GetStatusAsync().AsTask(), s => s.State == SweepState.Completed, Timeout, what);
        }
        catch (TimeoutException e)
        {
            var lines = new List<string> { e.Message };
            foreach (var m in (await sweep.GetStatusAsync()).Members)
            {
                string own;
                try
                {
                    var status = await fixture.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetStatusAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                    own = $"{status.State} step {status.Step} checkpoint {status.CheckpointStep} {status.Error}";
                }
                catch (Exception x) { own = $"status unavailable: {x.GetType().Name} {x.Message}"; }
                lines.Add($"  sweep says {m.MemberId} {m.State} step {m.Step}; member says {own}");
            }
            lines.Add("silo log:");
            lines.Add(fixture.LogTail());
            throw new TimeoutException(string.Join('\n', lines), e);
        }
    }

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
    public async Task A_population_round_waits_for_unfinished_members_and_moves_when_one_finishes()
    {
        // Driven directly, without training: three members report at step 100, or finish without reporting.
        var spec = Sweep("pbt", 3, 200, new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } }, members: 3) with
        {
            Search = new SearchSpec
            {
                Strategy = "pbt", Concurrency = 3, MembersPerPopulation = 3, Seed = 1,
                Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } },
                Pbt = new PbtSpec { Interval = 100, Quantile = 0.34, ResampleProbability = 0 },
            },
        };
        var members = SweepPlanner.Plan("rounds", spec);
        var population = fixture.Client.GetGrain<IPopulationGrain>("rounds-p0");
        await population.PlanAsync(new PopulationPlan("rounds", spec, members.Select((m, i) => new PopulationMember(m.MemberId, i, m.Spec, m.Hyperparameters)).ToList()));
        var file = new GanCluster.Contracts.Workers.CheckpointFile("x", 100, 1, "00");
        string a = members[0].MemberId, b = members[1].MemberId, c = members[2].MemberId;

        Assert.Equal(PbtAction.Wait, (await population.PbtReportAsync(a, 100, 0.9, file, file)).Action);
        Assert.Equal(PbtAction.Wait, (await population.PbtReportAsync(b, 100, 0.1, file, file)).Action);
        // c finishes without reporting at 100: the round is complete for a and b.
        await population.MemberProgressAsync(c, 60, finished: true);
        var top = await Eventually.WaitAsync(() => population.PbtReportAsync(a, 100, 0.9, file, file).AsTask(), v => v.Action != PbtAction.Wait, Timeout, "a's round to move");
        Assert.Equal(PbtAction.Continue, top.Action);
        // b is the bottom of the two: it exploits a, at a's checkpoint of step 100; asked again, it hears the same.
        var bottom = await population.PbtReportAsync(b, 100, 0.1, file, file);
        Assert.Equal(PbtAction.Exploit, bottom.Action);
        Assert.Equal(a, bottom.Exploit!.DonorId);
        Assert.Equal(100, bottom.Exploit.DonorStep);
        Assert.Equal(bottom, await population.PbtReportAsync(b, 100, 0.1, file, file));
        var view = await population.GetViewAsync();
        var entry = Assert.Single(view.Lineage);
        Assert.Equal((b, a, 100L), (entry.MemberId, entry.DonorId, entry.DonorStep));
    }

    [Fact]
    public async Task Population_based_training_exploits_top_members_and_keeps_a_lineage()
    {
        var spec = Sweep("pbt", 4, 200, new()
        {
            ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] },
            ["optimizer.discriminatorLr"] = new() { LogUniform = [1e-4, 1e-2] },
        }, members: 4) with
        {
            Search = new SearchSpec
            {
                Strategy = "pbt", Concurrency = 4, MembersPerPopulation = 4, Seed = 3,
                Space = new()
                {
                    ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] },
                    ["optimizer.discriminatorLr"] = new() { LogUniform = [1e-4, 1e-2] },
                },
                Pbt = new PbtSpec { Interval = 50, Quantile = 0.25, ResampleProbability = 0 },
            },
            Evaluation = new() { Every = 50, Samples = 500, MinSamplesPerMode = 10 },
            Checkpoint = new() { Every = 50, Keep = 20 },
        };
        var sweep = fixture.Client.GetGrain<ISweepGrain>("pbt-sweep");
        await sweep.SubmitAsync(spec);
        var done = await CompletedAsync(sweep, "the PBT sweep to complete");
        foreach (var m in done.Members)
        {
            var status = await fixture.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetStatusAsync();
            Assert.True(m.State == MemberState.Completed, $"{m.MemberId} {m.State}: {status.Error}");
        }
        Assert.NotEmpty(done.Lineage);
        foreach (var entry in done.Lineage)
        {
            Assert.NotEqual(entry.MemberId, entry.DonorId);
            Assert.Contains(done.Members, m => m.MemberId == entry.DonorId);
            Assert.True(entry.DonorStep > 0 && entry.DonorStep % 50 == 0, $"donor step {entry.DonorStep}");
            foreach (var part in entry.NewHyperparameters.Split(", "))
                Assert.InRange(double.Parse(part.Split('=')[1], System.Globalization.CultureInfo.InvariantCulture), 1e-4, 1e-2);
        }
        // The exploiting member took the donor's checkpoint: its own checkpoint at the donor's step holds the donor's weights.
        // The last exploit of all is the last of its member, so nothing of that member's later replaces it.
        var first = done.Lineage[^1];
        var store = new GanCluster.Grains.Storage.FileCheckpointStore(fixture.DataDirectory);
        var donorManifest = (await store.ListManifestsAsync(first.DonorId)).SingleOrDefault(m => m.Step == first.DonorStep);
        var recipientManifest = (await store.ListManifestsAsync(first.MemberId)).FirstOrDefault(m => m.Step == first.DonorStep);
        Assert.NotNull(donorManifest);
        Assert.NotNull(recipientManifest);
        {
            var data = GanCluster.Gan.Data.RealData.FromSpec(spec.Data);
            using var a = new GanCluster.Gan.Training.GeneratorModel(spec with { Search = null }, data, TorchSharp.torch.CPU);
            using var b = new GanCluster.Gan.Training.GeneratorModel(spec with { Search = null }, data, TorchSharp.torch.CPU);
            using (var r = new BinaryReader(File.OpenRead(store.Locate(donorManifest.Generator)))) a.Load(r);
            using (var r = new BinaryReader(File.OpenRead(store.Locate(recipientManifest.Generator)))) b.Load(r);
            Assert.Equal(a.WeightBytes(), b.WeightBytes());
        }

        // Rounds are synchronous and every choice is seeded: the same spec under another sweep id repeats the lineage.
        var again = fixture.Client.GetGrain<ISweepGrain>("pbt-sweep-again");
        await again.SubmitAsync(spec);
        var repeated = await CompletedAsync(again, "the repeated PBT sweep to complete");
        static string Lineage(SweepStatus s) => string.Join("\n", s.Lineage.Select(e =>
            $"{e.MemberId[s.SweepId.Length..]}@{e.Step} <- {e.DonorId[s.SweepId.Length..]}@{e.DonorStep}: {e.OldHyperparameters} -> {e.NewHyperparameters}"));
        Assert.Equal(Lineage(done), Lineage(repeated));
    }

    [Fact]
    public async Task A_diverging_member_is_marked_diverged_and_the_sweep_carries_on()
    {
        // An unpenalised Wasserstein critic with learning rate 1 on data at 1e6: the losses explode within steps.
        var spec = TestSpecs.SmallRing(steps: 200) with
        {
            Data = new DataSpec { Kind = "gaussian1d", Mean = 1e6, Std = 1e6 },
            Model = new ModelSpec { NoiseDim = 1, Generator = new NetworkSpec { Width = 64, Depth = 3 }, Discriminator = new NetworkSpec { Width = 64, Depth = 3 } },
            Evaluation = new() { Every = 200, Samples = 200, MinSamplesPerMode = 1 },
            Search = new SearchSpec
            {
                Strategy = "grid", Concurrency = 2,
                Space = new()
                {
                    ["loss.kind"] = new() { Choice = ["\"standard\"", "\"wasserstein_gp\""] },
                },
            },
        };
        spec = spec with { Loss = new LossSpec { GradientPenalty = 0 }, Optimizer = new OptimizerSpec { GeneratorLr = 1, DiscriminatorLr = 1, Beta1 = 0 } };
        var sweep = fixture.Client.GetGrain<ISweepGrain>("diverging-sweep");
        await sweep.SubmitAsync(spec);
        var done = await CompletedAsync(sweep, "the sweep to complete");
        var wgan = done.Members.Single(m => m.Hyperparameters.Contains("wasserstein_gp"));
        Assert.Equal(MemberState.Diverged, wgan.State);
        var status = await fixture.Client.GetGrain<ICoordinatorGrain>(wgan.MemberId).GetStatusAsync();
        Assert.Contains("exploding or non-finite loss", status.Error);
        Assert.True(wgan.Step < 200);
        Assert.True(done.Members.Single(m => m != wgan).State.IsFinished());
    }

    [Fact]
    public async Task A_sweep_observer_receives_progress_until_the_sweep_ends()
    {
        var view = new RecordingSweepObserver();
        var observer = fixture.Client.CreateObjectReference<ISweepObserver>(view);
        var sweep = fixture.Client.GetGrain<ISweepGrain>("observed-sweep");
        await sweep.SubscribeAsync(observer);
        await sweep.SubmitAsync(Sweep("random", 2, 200, new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } }, members: 2));
        var last = await view.Finished.WaitAsync(Timeout);
        Assert.Equal(SweepState.Completed, last.State);
        Assert.True(view.Count >= 2, $"{view.Count} updates");
        Assert.All(last.Members, m => Assert.Equal(MemberState.Completed, m.State));
    }

    private sealed class RecordingSweepObserver : ISweepObserver
    {
        private readonly TaskCompletionSource<SweepStatus> finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Count;
        public Task<SweepStatus> Finished => finished.Task;

        public Task OnSweepProgressAsync(SweepStatus status)
        {
            Interlocked.Increment(ref Count);
            if (status.State is SweepState.Completed or SweepState.Cancelled) finished.TrySetResult(status);
            return Task.CompletedTask;
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
        var a = GanCluster.Gan.Specs.SweepPlanner.Plan("a", Sweep("random", 1, 10, space));
        var b = GanCluster.Gan.Specs.SweepPlanner.Plan("b", Sweep("random", 1, 10, space));
        Assert.Equal(a.Select(p => p.Spec.Optimizer.GeneratorLr), b.Select(p => p.Spec.Optimizer.GeneratorLr));
        Assert.All(a, p => Assert.InRange(p.Spec.Optimizer.GeneratorLr, 1e-4, 1e-2));

        var bad = Sweep("grid", 1, 10, new() { ["training.batchSize"] = new() { IntRange = [0, 2] } });
        var e = await Assert.ThrowsAsync<SpecException>(() => fixture.Client.GetGrain<ISweepGrain>("bad-sweep").SubmitAsync(bad).AsTask());
        Assert.Contains(e.Problems, p => p.Contains("training.batchSize: must be between 1 and 65536, got 0"));
        // Nothing was created: the id names no sweep.
        await Assert.ThrowsAsync<UnknownSweepException>(() => fixture.Client.GetGrain<ISweepGrain>("bad-sweep").GetStatusAsync().AsTask());
    }
}
