using GanCluster.Contracts.Sweeps;
using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Tests.Support;
using ClientProgram = GanCluster.Client.Program;

namespace GanCluster.Tests.Specs;

/// <summary>
/// <c>submit</c> is idempotent by content, through the real client against a running cluster: the same spec again
/// answers with the sweep already running it (its id on stdout, exit 0); <c>--new</c> starts another; an explicit
/// <c>--sweep ID</c> keeps its own rules (same spec: that sweep; another spec: one line, exit 2).
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class SubmitTests(BadInputTests.RunningCluster cluster) : IClassFixture<BadInputTests.RunningCluster>
{
    private static readonly string RandomSweep = Path.Combine(TestSpecs.ExamplesDirectory, "ring8-random.json");

    /// <summary>A small sweep of one member that trains until it is cancelled; <paramref name="name"/> keeps tests apart.</summary>
    private static string[] Overrides(string name) =>
    [
        $"name={name}", "training.steps=100000000", "training.batchSize=16", "model.generator.width=8", "model.discriminator.width=8",
        "evaluation.every=100000000", "evaluation.samples=100", "checkpoint.every=100000000",
        "search.membersPerPopulation=1", "search.concurrency=1",
    ];

    private Task<(int Code, string Out, string Error)> SubmitAsync(string name, params string[] more) =>
        ClientConsole.RunAsync(["submit", RandomSweep, .. Overrides(name).SelectMany(o => new[] { "--set", o }), "--cluster", cluster.Gateway, .. more]);

    /// <summary>The ids the cluster's sweep index holds for this spec's content: one per sweep it started.</summary>
    private async Task<IReadOnlyList<string>> SweepsOfAsync(string name) =>
        await cluster.Client.GetGrain<ISweepIndexGrain>(0).WithContentAsync(SpecLoader.ContentHash(SpecFile.Load(RandomSweep, Overrides(name))));

    [Fact]
    public async Task The_same_spec_twice_is_one_sweep_and_new_starts_another()
    {
        const string name = "submit-twice";
        var started = new List<string>();
        try
        {
            var (code, first, error) = await SubmitAsync(name);
            Assert.True(code == 0, error);
            string id = first.Trim();
            started.Add(id);
            Assert.Matches(@"^submit-twice-\d{8}-\d{6}-[0-9a-f]{8}$", id);

            (code, var second, error) = await SubmitAsync(name);
            Assert.True(code == 0, error);
            Assert.Equal(id, second.Trim());
            Assert.Equal($"already running as sweep {id} (same spec); pass --new to start another", error.Trim());
            Assert.Equal([id], await SweepsOfAsync(name));

            // --new: a second sweep of the same spec, under a fresh id.
            (code, var fresh, error) = await SubmitAsync(name, "--new");
            Assert.True(code == 0, error);
            string other = fresh.Trim();
            started.Add(other);
            Assert.NotEqual(id, other);
            Assert.Equal([id, other], await SweepsOfAsync(name));
            Assert.Equal(SweepState.Running, (await cluster.Client.GetGrain<ISweepGrain>(other).GetStatusAsync()).State);

            // An explicit id: the same spec answers with that sweep; another spec under it is refused.
            (code, var named, error) = await SubmitAsync(name, "--sweep", other);
            Assert.True(code == 0, error);
            Assert.Equal(other, named.Trim());
            (code, _, error) = await SubmitAsync(name, "--sweep", other, "--set", "seed=2");
            Assert.True(code == 2, $"exit {code}:\n{error}");
            Assert.Equal($"error: sweep {other} already exists with a different spec; choose another sweep id (--sweep ID)", error.Trim());
            Assert.Equal([id, other], await SweepsOfAsync(name));

            (code, _, error) = await SubmitAsync(name, "--sweep", other, "--new");
            Assert.True(code == 2, $"exit {code}:\n{error}");
            Assert.Contains("error: submit takes --sweep ID or --new, not both", error);
        }
        finally
        {
            foreach (var id in started) await cluster.Client.GetGrain<ISweepGrain>(id).CancelAsync();
        }
    }

    [Fact]
    public async Task The_index_gives_a_specs_claim_to_one_submit_until_it_lapses_or_its_sweep_has_ended()
    {
        var index = cluster.Client.GetGrain<ISweepIndexGrain>(0);
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => index.ClaimAsync("claim-hash", $"claimer-{i}", TimeSpan.FromMinutes(1)).AsTask()));
        Assert.Single(claims.Distinct());
        string holder = claims[0];
        Assert.Equal(holder, await index.ClaimAsync("claim-hash", "late", TimeSpan.FromMinutes(1)));
        Assert.Equal("late", await index.ClaimAsync("claim-hash", "late", TimeSpan.FromMinutes(1), finished: holder));
        Assert.Equal("other", await index.ClaimAsync("other-hash", "other", TimeSpan.Zero));
        Assert.Equal("after", await index.ClaimAsync("other-hash", "after", TimeSpan.FromMinutes(1))); // a lapsed claim
    }

    [Fact]
    public async Task A_finished_sweep_does_not_hold_its_spec_and_a_paused_one_does()
    {
        const string name = "submit-after-cancel";
        var started = new List<string>();
        try
        {
            var (code, output, error) = await SubmitAsync(name);
            Assert.True(code == 0, error);
            string id = output.Trim();
            started.Add(id);

            await cluster.Client.GetGrain<ISweepGrain>(id).PauseAsync();
            (code, output, error) = await SubmitAsync(name);
            Assert.True(code == 0, error);
            Assert.Equal(id, output.Trim());
            Assert.Equal($"already submitted as sweep {id}, paused (same spec); resume it, or pass --new to start another", error.Trim());

            // Cancelled: the spec is free again, and the next submit starts a new sweep.
            await cluster.Client.GetGrain<ISweepGrain>(id).CancelAsync();
            (code, output, error) = await SubmitAsync(name);
            Assert.True(code == 0, error);
            string next = output.Trim();
            started.Add(next);
            Assert.NotEqual(id, next);
            Assert.Equal("", error.Trim());
            Assert.Equal([id, next], await SweepsOfAsync(name));
        }
        finally
        {
            foreach (var id in started) await cluster.Client.GetGrain<ISweepGrain>(id).CancelAsync();
        }
    }
}
