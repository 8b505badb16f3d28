using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Training;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Processes;

/// <summary>Real silo processes on loopback: a SIGKILL mid-training, a restart, and a Prometheus scrape.</summary>
[Collection(ProcessCollection.Name)]
public class SiloProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_member_whose_silo_is_killed_resumes_from_its_last_checkpoint_after_restart_with_identical_weights()
    {
        using var data = new TempDirectory();
        var spec = TestSpecs.SmallRing(steps: 2000) with { Checkpoint = new() { Every = 250, Keep = 20 } };
        long killedAt, checkpointAtKill;
        int gatewayPort = SiloProcess.FreePort(), siloPort = SiloProcess.FreePort();
        await using (var silo = await SiloProcess.StartAsync(data.Path, gatewayPort, siloPort))
        {
            await using var client = await ClusterConnection.ConnectAsync(silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
            var member = client.Client.GetGrain<ICoordinatorGrain>("killed");
            await member.StartAsync(spec);
            var status = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.CheckpointStep >= 500 || s.State.IsFinished(), Timeout, "a checkpoint at step 500");
            Assert.Equal(MemberState.Running, status.State);
            silo.Kill();
            killedAt = status.Step;
            checkpointAtKill = status.CheckpointStep;
        }

        await using (var silo = await SiloProcess.StartAsync(data.Path, gatewayPort, siloPort))
        {
            await using var client = await ClusterConnection.ConnectAsync(silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
            var member = client.Client.GetGrain<ICoordinatorGrain>("killed");
            var done = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the resumed member to finish");
            Assert.Equal(MemberState.Completed, done.State);
            Assert.Equal(2000, done.Step);
            Assert.Contains("Resuming member killed", silo.Output);
            Assert.Contains($"Member killed starts at step {checkpointAtKill}", silo.Output.Replace("\"", ""));
        }

        // The resumed run ends exactly where an uninterrupted single-process run of the same seed ends.
        var store = new FileCheckpointStore(data.Path);
        var final = (await store.ListManifestsAsync("killed"))[0];
        Assert.Equal(2000, final.Step);
        using var reference = new ReferenceLoop(spec);
        reference.Run(2000);
        using var g = new GeneratorModel(spec, GanCluster.Gan.Data.RealData.FromSpec(spec.Data), TorchSharp.torch.CPU);
        using (var reader = new BinaryReader(File.OpenRead(store.Locate(final.Generator)))) g.Load(reader);
        Assert.Equal(reference.Generator.WeightBytes(), g.WeightBytes());
        Assert.True(killedAt >= checkpointAtKill);
    }

    [Fact]
    public async Task The_metrics_endpoint_of_a_training_silo_exposes_the_GAN_instruments_with_units_and_descriptions()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path);
        await using var client = await ClusterConnection.ConnectAsync(silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
        var member = client.Client.GetGrain<ICoordinatorGrain>("scraped");
        await member.StartAsync(TestSpecs.SmallRing(steps: 1_000_000) with { Evaluation = new() { Every = 100, Samples = 500, MinSamplesPerMode = 10 }, Checkpoint = new() { Every = 100 } });
        await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Evaluation is not null, Timeout, "a first evaluation");
        await Task.Delay(600);

        string text = await silo.ScrapeAsync();
        foreach (var name in new[]
                 {
                     "gancluster_member_steps_total", "gancluster_member_step", "gancluster_member_discriminator_loss", "gancluster_member_generator_loss",
                     "gancluster_member_discriminator_real", "gancluster_member_discriminator_fake", "gancluster_member_modes_covered",
                     "gancluster_member_high_quality_fraction", "gancluster_member_steps_per_second", "gancluster_member_generator_grad_norm",
                     "gancluster_member_discriminator_grad_norm", "gancluster_step_duration_seconds_bucket", "gancluster_checkpoint_duration_seconds_count",
                 })
        {
            Assert.Contains($"\n{name}{{", "\n" + text);
        }
        Assert.Contains("# HELP gancluster_member_discriminator_real Mean D(x) on real samples", text);
        Assert.Contains("# TYPE gancluster_member_steps_total counter", text);
        Assert.Contains("member=\"scraped\"", text);
        Assert.Contains("le=\"0.005\"", text); // step latency buckets in seconds, not milliseconds
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", text);
        Assert.Contains("orleans_grains", text);
        await member.CancelAsync();
    }
}

[Collection(ProcessCollection.Name)]
public class SweepProcessTests
{
    [Fact]
    public async Task A_submitted_sweep_carries_on_after_its_client_disconnects()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path);
        var spec = TestSpecs.SmallRing(steps: 300) with
        {
            Search = new GanCluster.Gan.Specs.SearchSpec
            {
                Strategy = "random", MembersPerPopulation = 3, Concurrency = 2,
                Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } },
            },
        };
        await using (var first = await ClusterConnection.ConnectAsync(silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None))
        {
            var submitted = await first.Client.GetGrain<GanCluster.Contracts.Sweeps.ISweepGrain>("left-alone").SubmitAsync(spec);
            Assert.Equal(3, submitted.Members.Count);
        }
        await Task.Delay(1000);
        await using var second = await ClusterConnection.ConnectAsync(silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
        var sweep = second.Client.GetGrain<GanCluster.Contracts.Sweeps.ISweepGrain>("left-alone");
        var done = await Eventually.WaitAsync(() => sweep.GetStatusAsync().AsTask(),
            s => s.State is GanCluster.Contracts.Sweeps.SweepState.Completed or GanCluster.Contracts.Sweeps.SweepState.Cancelled, TimeSpan.FromMinutes(3), "the sweep to finish");
        Assert.Equal(GanCluster.Contracts.Sweeps.SweepState.Completed, done.State);
        Assert.All(done.Members, m => Assert.Equal(MemberState.Completed, m.State));
        Assert.Contains("left-alone", await second.Client.GetGrain<GanCluster.Contracts.Sweeps.ISweepIndexGrain>(0).ListAsync());
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "processes";
}
