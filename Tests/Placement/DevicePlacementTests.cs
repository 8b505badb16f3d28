using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Workers;
using GanCluster.Tests.Support;
using Orleans.Serialization.TypeSystem;
using GanCluster.Grains.Placement;

namespace GanCluster.Tests.Placement;

/// <summary>Worker placement by device capacity across three silos with different devices (see the fixture).</summary>
[Collection(PlacementClusterCollection.Name)]
public class DevicePlacementTests(PlacementClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private static readonly string[] WorkerTypes =
        [RuntimeTypeNameFormatter.Format(typeof(GeneratorWorkerGrain)), RuntimeTypeNameFormatter.Format(typeof(DiscriminatorWorkerGrain))];

    private SiloAddress SiloNamed(string name) => fixture.Cluster.Silos.Single(s => s.Name == name).SiloAddress;

    /// <summary>Worker activations per silo right now.</summary>
    private async Task<Dictionary<SiloAddress, List<GrainId>>> WorkersBySiloAsync()
    {
        var stats = await fixture.Client.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(WorkerTypes);
        var bySilo = fixture.Cluster.Silos.ToDictionary(s => s.SiloAddress, _ => new List<GrainId>());
        foreach (var s in stats) bySilo[s.SiloAddress].Add(s.GrainId);
        return bySilo;
    }

    /// <summary>Activates a worker grain without preparing it (a fresh worker answers WorkerNotReadyException).</summary>
    private async Task ActivateAsync(IGeneratorWorkerGrain worker) =>
        await Assert.ThrowsAsync<WorkerNotReadyException>(() => worker.ExportWeightsAsync().AsTask());

    private async Task ReleaseAllAsync(IEnumerable<IGeneratorWorkerGrain> workers)
    {
        foreach (var w in workers) await w.ReleaseAsync();
        await Eventually.WaitAsync(WorkersBySiloAsync, m => m.Values.All(l => l.Count == 0), Timeout, "every worker to deactivate");
    }

    [Fact]
    public async Task Every_silo_advertises_its_devices_and_worker_slots()
    {
        var devices = fixture.SiloService<ClusterDevices>("Secondary_1");
        var silos = await Eventually.WaitAsync(() => Task.FromResult(devices.ActiveSilos()),
            s => s.Count == 3 && s.All(x => x.Devices is not null), Timeout, "the metadata of three silos");
        var primary = silos.Single(s => s.Silo.Equals(SiloNamed("Primary"))).Devices!;
        Assert.Equal(("cpu", 1, true, 0), (primary.Kind, primary.Count, primary.CoordinationOnly, primary.WorkerCapacity));
        var first = silos.Single(s => s.Silo.Equals(SiloNamed("Secondary_1"))).Devices!;
        Assert.Equal(new SiloDevices("cpu", 1, 4096, 2, false), first);
        var second = silos.Single(s => s.Silo.Equals(SiloNamed("Secondary_2"))).Devices!;
        Assert.Equal(new SiloDevices("cpu", 1, 2048, 2, false), second);
    }

    [Fact]
    public async Task Workers_go_only_to_worker_silos_least_loaded_first_and_a_full_cluster_says_so()
    {
        var primary = SiloNamed("Primary");
        var workerSilos = new[] { SiloNamed("Secondary_1"), SiloNamed("Secondary_2") };
        var workers = Enumerable.Range(0, 4).Select(i => fixture.Client.GetGrain<IGeneratorWorkerGrain>($"placement-fill-{i}")).ToList();
        try
        {
            for (int i = 0; i < workers.Count; i++)
            {
                await ActivateAsync(workers[i]);
                var bySilo = await WorkersBySiloAsync();
                Assert.Empty(bySilo[primary]);
                Assert.Equal(i + 1, workerSilos.Sum(s => bySilo[s].Count));
                // Least loaded first: the two worker silos never differ by more than one worker.
                Assert.True(Math.Abs(bySilo[workerSilos[0]].Count - bySilo[workerSilos[1]].Count) <= 1,
                    $"after {i + 1} workers: {bySilo[workerSilos[0]].Count} and {bySilo[workerSilos[1]].Count}");
            }

            // Four slots, four workers: the next worker has nowhere to go, and says why.
            var extra = fixture.Client.GetGrain<IDiscriminatorWorkerGrain>("placement-extra");
            var e = await Assert.ThrowsAsync<DeviceCapacityException>(() => extra.ExportWeightsAsync().AsTask());
            Assert.Contains("every worker silo is at its device capacity", e.Message);
            Assert.Contains("2 of 2 worker slots in use", e.Message);
            Assert.Contains("Gan:Compute:WorkersPerDevice", e.Message);

            // A member started now fails with that message instead of waiting for a slot.
            var member = fixture.Client.GetGrain<ICoordinatorGrain>("placement-no-capacity");
            await member.StartAsync(TestSpecs.SmallRing(steps: 50));
            var failed = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to fail");
            Assert.Equal(MemberState.Failed, failed.State);
            Assert.Contains("DeviceCapacityException", failed.Error);
            Assert.Contains("at its device capacity", failed.Error);
        }
        finally
        {
            await ReleaseAllAsync(workers);
        }
    }

    [Fact]
    public async Task A_placement_hint_naming_a_worker_silo_is_honoured_and_one_naming_a_coordination_only_silo_is_not()
    {
        var primary = SiloNamed("Primary");
        var second = SiloNamed("Secondary_2");
        var workers = new[] { fixture.Client.GetGrain<IGeneratorWorkerGrain>("placement-hint-0"), fixture.Client.GetGrain<IGeneratorWorkerGrain>("placement-hint-1") };
        try
        {
            // Twice onto the same worker silo: the hint beats least-loaded-first while that silo has a free slot.
            foreach (var w in workers)
            {
                RequestContext.Set(Orleans.Runtime.Placement.IPlacementDirector.PlacementHintKey, second);
                try { await ActivateAsync(w); } finally { RequestContext.Clear(); }
            }
            var bySilo = await WorkersBySiloAsync();
            Assert.True(bySilo[second].Count == 2, $"{second}: {bySilo[second].Count}\n{fixture.LogTail(20)}");

            // The coordination-only silo hosts no workers, hint or not.
            await ReleaseAllAsync(workers);
            RequestContext.Set(Orleans.Runtime.Placement.IPlacementDirector.PlacementHintKey, primary);
            try { await ActivateAsync(workers[0]); } finally { RequestContext.Clear(); }
            bySilo = await WorkersBySiloAsync();
            Assert.Empty(bySilo[primary]);
            Assert.Equal(1, bySilo.Values.Sum(l => l.Count));
        }
        finally
        {
            await ReleaseAllAsync(workers);
        }
    }

    [Fact]
    public async Task A_member_trains_with_its_workers_on_the_worker_silos_one_on_each()
    {
        var member = fixture.Client.GetGrain<ICoordinatorGrain>("placement-trains");
        var spec = TestSpecs.SmallRing(steps: 1_000_000) with { Checkpoint = new() { Every = 100_000 }, Evaluation = new() { Every = 100_000, Samples = 500, MinSamplesPerMode = 10 } };
        await member.StartAsync(spec);
        try
        {
            await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 10 || s.State.IsFinished(), Timeout, "10 steps");
            var bySilo = await WorkersBySiloAsync();
            Assert.Empty(bySilo[SiloNamed("Primary")]);
            Assert.True(bySilo[SiloNamed("Secondary_1")].Count == 1 && bySilo[SiloNamed("Secondary_2")].Count == 1,
                $"workers by silo: {string.Join("; ", bySilo.Select(p => $"{p.Key}: {string.Join(", ", p.Value)}"))}\n{fixture.LogTail()}");
        }
        finally
        {
            var cancelled = await member.CancelAsync();
            Assert.Equal(MemberState.Cancelled, cancelled.State);
            await Eventually.WaitAsync(WorkersBySiloAsync, m => m.Values.All(l => l.Count == 0), Timeout, "the member's workers to deactivate");
        }
    }

    [Fact]
    public async Task With_G_and_D_on_two_silos_the_alternating_schedule_is_bit_identical_to_the_single_process_loop()
    {
        // G and D cannot share memory across silos: each step is one grain call from D to G, carrying D's gradient
        // one way and G's next batch the other. One silo is the other case
        // (MemberTrainingTests.The_grain_schedule_is_bit_identical_to_the_single_process_loop).
        await TrainAndCompareAsync("placement-matches-reference", 2000);
    }

    private async Task TrainAndCompareAsync(string memberId, long steps)
    {
        var member = fixture.Client.GetGrain<ICoordinatorGrain>(memberId);
        var spec = TestSpecs.SmallRing(steps: steps) with { Checkpoint = new() { Every = steps }, Evaluation = new() { Every = steps, Samples = 500, MinSamplesPerMode = 10 } };
        await member.StartAsync(spec);
        // This member's workers only (another test's may still be deactivating).
        int Mine(List<GrainId> ids) => ids.Count(id => id.Key.ToString() == memberId);
        var running = await Eventually.WaitAsync(WorkersBySiloAsync, m => m.Values.Sum(Mine) == 2, Timeout, "both workers to be active");
        Assert.True(Mine(running[SiloNamed("Secondary_1")]) == 1 && Mine(running[SiloNamed("Secondary_2")]) == 1,
            $"workers by silo: {string.Join("; ", running.Select(p => $"{p.Key}: {string.Join(", ", p.Value)}"))}");
        var done = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to finish");
        Assert.Equal(MemberState.Completed, done.State);

        using var reference = new GanCluster.Gan.Training.ReferenceLoop(spec);
        reference.Run(steps);
        var store = new GanCluster.Grains.Storage.FileCheckpointStore(fixture.DataDirectory);
        var manifests = await store.ListManifestsAsync(memberId);
        Assert.Equal(steps, manifests[0].Step);
        using var g = new GanCluster.Gan.Training.GeneratorModel(spec, GanCluster.Gan.Data.RealData.FromSpec(spec.Data), TorchSharp.torch.CPU);
        using (var reader = new BinaryReader(File.OpenRead(store.Locate(manifests[0].Generator)))) g.Load(reader);
        Assert.Equal(reference.Generator.WeightBytes(), g.WeightBytes());
    }

    [Fact]
    public async Task In_exchange_mode_G_and_D_train_in_parallel_on_two_silos_and_the_member_completes()
    {
        var member = fixture.Client.GetGrain<ICoordinatorGrain>("placement-exchange");
        var spec = TestSpecs.SmallRing(steps: 400) with { Training = TestSpecs.SmallRing().Training with { Steps = 400, Mode = "exchange", ExchangeEvery = 5 } };
        await member.StartAsync(spec);
        await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 10 || s.State.IsFinished(), Timeout, "10 steps");
        var bySilo = await WorkersBySiloAsync();
        Assert.Empty(bySilo[SiloNamed("Primary")]);
        Assert.True(bySilo[SiloNamed("Secondary_1")].Count == 1 && bySilo[SiloNamed("Secondary_2")].Count == 1,
            $"workers by silo: {string.Join("; ", bySilo.Select(p => $"{p.Key}: {string.Join(", ", p.Value)}"))}");
        var done = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to finish");
        Assert.True(done.State == MemberState.Completed, $"{done.State}: {done.Error}\n{fixture.LogTail()}");
        Assert.Equal(400, done.Step);
        await Eventually.WaitAsync(WorkersBySiloAsync, m => m.Values.All(l => l.Count == 0), Timeout, "the member's workers to deactivate");
    }

    [Fact]
    public async Task A_spec_needing_more_device_memory_than_any_silo_has_is_refused_before_anything_starts()
    {
        // 3 × 16384² weights in D: about 805 M parameters, 12 GiB with gradients and Adam's moments.
        var spec = TestSpecs.SmallRing(steps: 50) with
        {
            Model = new ModelSpec { NoiseDim = 2, Generator = new NetworkSpec { Width = 64, Depth = 2 }, Discriminator = new NetworkSpec { Width = 16384, Depth = 4 } },
        };
        var member = fixture.Client.GetGrain<ICoordinatorGrain>("placement-too-large");
        var e = await Assert.ThrowsAsync<SpecException>(() => member.StartAsync(spec).AsTask());
        var problem = Assert.Single(e.Problems);
        Assert.Contains("device memory: a worker of this member needs about", problem);
        Assert.Contains("more than the largest device of any worker silo (4,096 MiB", problem);
        // The coordination-only primary advertises 65,536 MiB, which no worker can use: it is not counted.
        Assert.DoesNotContain("65,536", problem);
        var status = await member.GetStatusAsync();
        Assert.Equal(MemberState.Pending, status.State);
        Assert.Empty((await WorkersBySiloAsync()).Values.SelectMany(l => l));

        // A sweep whose grid reaches such a point is refused whole, naming the point.
        var sweepSpec = TestSpecs.SmallRing(steps: 50) with
        {
            Search = new SearchSpec
            {
                Strategy = "grid", Concurrency = 1,
                Space = new() { ["model.discriminator.width"] = new() { Choice = ["64", "16384"] } },
            },
            Model = spec.Model with { Discriminator = new NetworkSpec { Width = 64, Depth = 4 } },
        };
        var sweep = fixture.Client.GetGrain<ISweepGrain>("placement-too-large-sweep");
        var se = await Assert.ThrowsAsync<SpecException>(() => sweep.SubmitAsync(sweepSpec).AsTask());
        var sweepProblem = Assert.Single(se.Problems);
        Assert.StartsWith("search.space point model.discriminator.width=16384: device memory:", sweepProblem);
    }

    [Fact]
    public void The_footprint_of_a_member_grows_with_its_model_and_batch()
    {
        var small = ModelFootprint.Estimate(TestSpecs.SmallRing());
        var wide = ModelFootprint.Estimate(TestSpecs.SmallRing() with { Model = TestSpecs.SmallRing().Model with { Discriminator = new NetworkSpec { Width = 256, Depth = 2 } } });
        var batch = ModelFootprint.Estimate(TestSpecs.SmallRing() with { Training = TestSpecs.SmallRing().Training with { BatchSize = 4096 } });
        Assert.True(wide.DiscriminatorWorkerBytes > small.DiscriminatorWorkerBytes);
        Assert.Equal(small.GeneratorWorkerBytes, wide.GeneratorWorkerBytes);
        Assert.True(batch.DiscriminatorWorkerBytes > small.DiscriminatorWorkerBytes);
        Assert.True(small.LargestWorkerBytes >= small.DiscriminatorParameters * 16);
    }
}
