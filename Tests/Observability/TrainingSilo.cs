using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Observability;

/// <summary>
/// A real silo process that trains, for the observability tests: a PBT sweep of two members (so that exploits,
/// explores and sweep counts exist) and a member on its own, all long enough to outlast the tests; logs in JSON.
/// Disposing kills the silo and deletes its data.
/// </summary>
public sealed class TrainingSilo : IAsyncLifetime
{
    public const string SweepId = "obs-sweep";
    public const string MemberId = "obs-alone";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private readonly TempDirectory data = new();
    private ClusterConnection? connection;
    public SiloProcess Silo { get; private set; } = null!;

    /// <summary>The sweep member the member dashboard is checked with.</summary>
    public string SweepMember => $"{SweepId}-p0-m1";

    public async Task InitializeAsync()
    {
        Silo = await SiloProcess.StartAsync(data.Path, extraArguments: ["--Gan:Logging:Format", "json"]);
        try
        {
            connection = await ClusterConnection.ConnectAsync(Silo.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
            var ring = TestSpecs.SmallRing(steps: 10_000_000) with
            {
                Evaluation = new EvaluationSpec { Every = 100, Samples = 500, MinSamplesPerMode = 10 },
                Checkpoint = new CheckpointSpec { Every = 100, Keep = 2 },
            };
            var sweep = connection.Client.GetGrain<ISweepGrain>(SweepId);
            await sweep.SubmitAsync(ring with
            {
                Search = new SearchSpec
                {
                    Strategy = "pbt", MembersPerPopulation = 2, Concurrency = 2, Seed = 3,
                    Pbt = new PbtSpec { Interval = 100, Quantile = 0.5 },
                    Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } },
                },
            });
            var member = connection.Client.GetGrain<ICoordinatorGrain>(MemberId);
            await member.StartAsync(ring);
            await Eventually.WaitAsync(() => sweep.GetStatusAsync().AsTask(), s => s.Lineage.Count >= 2 || s.State != SweepState.Running, Timeout, "two PBT exploits");
            await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Evaluation is not null && s.CheckpointStep > 0 || s.State.IsFinished(), Timeout, "an evaluation and a checkpoint");
            Assert.Equal(SweepState.Running, (await sweep.GetStatusAsync()).State);
            Assert.Equal(MemberState.Running, (await member.GetStatusAsync()).State);
            await Task.Delay(600); // the next publish carries the evaluation
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (connection is not null) await connection.DisposeAsync();
        if (Silo is not null) await Silo.DisposeAsync();
        data.Dispose();
    }
}
