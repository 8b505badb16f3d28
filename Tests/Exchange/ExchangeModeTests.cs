using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Exchange;

/// <summary>training.mode exchange through the grains (Orleans' in-process test cluster).</summary>
[Collection(ClusterCollection.Name)]
public class ExchangeModeTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    private ICoordinatorGrain Member(string id) => fixture.Client.GetGrain<ICoordinatorGrain>(id);

    private static GanSpec Exchange(GanSpec spec, int every) =>
        spec with { Training = spec.Training with { Mode = "exchange", ExchangeEvery = every } };

    private async Task<MemberStatus> FinishedAsync(ICoordinatorGrain member)
    {
        try
        {
            return await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to finish");
        }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}\nsilo log:\n{fixture.LogTail()}", e); }
    }

    private Task<IReadOnlyList<CheckpointManifest>> CheckpointsOf(string memberId) =>
        new FileCheckpointStore(fixture.DataDirectory).ListManifestsAsync(memberId);

    [Fact]
    public async Task Synchronous_exchange_trains_a_seeded_ring_GAN_that_beats_chance()
    {
        // Three seeds at once. Whether a seeded ring GAN has collapsed onto one mode by step 1,500 changes with the
        // rounding of its kernels (seeds 7, 8, 9 gave 8/8, 0/8 and 8/8 modes on one of MKL's paths, 1/8, 1/8 and 5/8 on
        // the other; with the hand-written MLP passes 2/8, 1/8 and 2/8; over seeds 1–9 both backward passes collapse
        // most runs onto one or two modes at this learning rate, and leave some at none), so the bar is that of a GAN
        // that trains, not of one that covers the ring: two seeds put more than a sixth of their samples within 3σ of
        // a mode (an untrained G puts none there).
        var specs = new long[] { 7, 8, 9 }.Select(seed => Exchange(TestSpecs.SmallRing(steps: 1500, seed: seed) with { Evaluation = new() { Every = 1500, Samples = 2000, MinSamplesPerMode = 20 } }, every: 1)).ToList();
        var members = specs.Select(s => Member($"exchange-beats-chance-{s.Seed}")).ToList();
        for (int i = 0; i < specs.Count; i++) await members[i].StartAsync(specs[i]);
        var results = new List<string>();
        int cleared = 0;
        foreach (var m in members)
        {
            var s = await FinishedAsync(m);
            Assert.True(s.State == MemberState.Completed, $"{s.State}: {s.Error}");
            Assert.Equal(1500, s.Step);
            var e = Assert.IsType<MixtureMetrics>(s.Evaluation);
            if (e.ModesCovered >= 1 && e.HighQualityFraction > 0.15) cleared++;
            results.Add($"{e.ModesCovered}/8 modes, {e.HighQualityFraction:P0} high quality");
        }
        Assert.True(cleared >= 2, $"seeds 7, 8, 9: {string.Join("; ", results)}");
        var report = await members[0].GetReportAsync();
        Assert.Equal(150, report.Curve.Count);
        Assert.All(report.Curve, c => Assert.True(double.IsFinite(c.DLoss) && double.IsFinite(c.GLoss) && c.DReal > 0 && c.DFake > 0));
    }

    [Theory]
    [InlineData(5, 50, true)]    // step 50 is an exchange point: each shadow equals the other network
    [InlineData(7, 50, false)]   // step 50 falls between exchanges at 49 and 56: the shadows are one step behind
    public async Task Workers_exchange_weights_every_N_steps_and_only_then(int every, int checkpointStep, bool exchangedAtCheckpoint)
    {
        var spec = Exchange(TestSpecs.SmallRing(steps: 100) with { Checkpoint = new() { Every = checkpointStep, Keep = 10 } }, every);
        string id = $"exchange-every-{every}";
        var member = Member(id);
        await member.StartAsync(spec);
        var status = await FinishedAsync(member);
        Assert.True(status.State == MemberState.Completed, $"{status.State}: {status.Error}");

        var manifest = (await CheckpointsOf(id)).Single(m => m.Step == checkpointStep);
        var data = RealData.FromSpec(spec.Data);
        using var g = new GeneratorModel(spec, data, TorchSharp.torch.CPU);
        using var d = new DiscriminatorModel(spec, data, TorchSharp.torch.CPU);
        using (var reader = new BinaryReader(File.OpenRead(new FileCheckpointStore(fixture.DataDirectory).Locate(manifest.Generator)))) g.Load(reader);
        using (var reader = new BinaryReader(File.OpenRead(new FileCheckpointStore(fixture.DataDirectory).Locate(manifest.Discriminator)))) d.Load(reader);
        Assert.Equal(checkpointStep, g.Step);
        Assert.Equal(checkpointStep, d.Step);
        Assert.Equal(exchangedAtCheckpoint, d.WeightBytes().SequenceEqual(g.ShadowWeightBytes()!));
        Assert.Equal(exchangedAtCheckpoint, g.WeightBytes().SequenceEqual(d.ShadowWeightBytes()!));

        // The shadows did move: after the exchanges they no longer hold the initial weights.
        using var fresh = new GeneratorModel(spec, data, TorchSharp.torch.CPU);
        Assert.False(fresh.ShadowWeightBytes()!.SequenceEqual(g.ShadowWeightBytes()!));
    }

    [Fact]
    public async Task A_member_deactivated_while_paused_between_exchanges_ends_bit_identical_to_an_uninterrupted_one()
    {
        // Exchanges every 30 steps; a round of the schedule ends at most 20 steps on, and a pause takes effect between
        // rounds: pause until the member stands between two exchanges (after the first), so that the shadows and the
        // discriminator's noise stream must travel in the pause checkpoint for the run to end the same.
        var spec = Exchange(TestSpecs.SmallRing(steps: 4000) with { Checkpoint = new() { Every = 400, Keep = 10 } }, every: 30);

        var straight = Member("exchange-straight");
        await straight.StartAsync(spec);
        Assert.Equal(MemberState.Completed, (await FinishedAsync(straight)).State);

        var interrupted = Member("exchange-interrupted");
        await interrupted.StartAsync(spec);
        MemberStatus paused = await interrupted.GetStatusAsync();
        for (int attempt = 0; attempt < 30; attempt++)
        {
            long after = Math.Max(31, paused.Step + 1);
            await Eventually.WaitAsync(() => interrupted.GetStatusAsync().AsTask(), s => s.Step >= after || s.State.IsFinished(), Timeout, $"step {after}");
            paused = await interrupted.PauseAsync();
            if (paused.State != MemberState.Paused || paused.Step % 30 != 0) break;
            await interrupted.ResumeAsync();
        }
        Assert.Equal(MemberState.Paused, paused.State);
        Assert.NotEqual(0, paused.Step % 30);
        Assert.True(paused.Step > 30 && paused.Step < 4000, $"paused at {paused.Step}");

        await fixture.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Task.Delay(500);
        Assert.Equal(paused.Step, (await interrupted.GetStatusAsync()).Step);

        await interrupted.ResumeAsync();
        var done = await FinishedAsync(interrupted);
        Assert.Equal(MemberState.Completed, done.State);
        Assert.Equal(4000, done.Step);

        var a = (await CheckpointsOf("exchange-straight"))[0];
        var b = (await CheckpointsOf("exchange-interrupted"))[0];
        Assert.Equal(4000, b.Step);
        Assert.Equal(a.Generator.Sha256, b.Generator.Sha256);
        Assert.Equal(a.Discriminator.Sha256, b.Discriminator.Sha256);
        Assert.Equal((await straight.GetReportAsync()).Curve, (await interrupted.GetReportAsync()).Curve);
    }

    [Fact]
    public async Task Cancel_in_exchange_mode_leaves_a_checkpoint_and_a_diverging_member_is_marked_diverged()
    {
        var spec = Exchange(TestSpecs.SmallRing(steps: 1_000_000) with
        {
            Checkpoint = new() { Every = 100_000 },
            Evaluation = new() { Every = 100_000, Samples = 500, MinSamplesPerMode = 10 },
        }, every: 3);
        var member = Member("exchange-cancel");
        await member.StartAsync(spec);
        await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 30, Timeout, "30 steps");
        var cancelled = await member.CancelAsync();
        Assert.Equal(MemberState.Cancelled, cancelled.State);
        Assert.Equal(cancelled.Step, cancelled.CheckpointStep);

        // An unpenalised Wasserstein critic with learning rate 1 on data at 1e6: the losses explode within steps.
        var diverging = Exchange(TestSpecs.SmallRing(steps: 200) with
        {
            Data = new DataSpec { Kind = "gaussian1d", Mean = 1e6, Std = 1e6 },
            Model = new ModelSpec { NoiseDim = 1, Generator = new NetworkSpec { Width = 64, Depth = 3 }, Discriminator = new NetworkSpec { Width = 64, Depth = 3 } },
            Loss = new LossSpec { Kind = "wasserstein_gp", GradientPenalty = 0 },
            Optimizer = new OptimizerSpec { GeneratorLr = 1, DiscriminatorLr = 1, Beta1 = 0 },
            Evaluation = new() { Every = 200, Samples = 200, MinSamplesPerMode = 1 },
        }, every: 4);
        var bad = Member("exchange-diverging");
        await bad.StartAsync(diverging);
        var status = await FinishedAsync(bad);
        Assert.Equal(MemberState.Diverged, status.State);
        Assert.Contains("exploding or non-finite loss", status.Error);
        Assert.True(status.Step < 200);
    }
}
