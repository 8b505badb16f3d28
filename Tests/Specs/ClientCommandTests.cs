using ClientProgram = GanCluster.Client.Program;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Specs;

/// <summary>The client refuses bad input before it starts a silo or activates a grain.</summary>
[Collection(ConsoleCollection.Name)]
public class ClientCommandTests
{
    private static async Task<(int Code, string Error)> RunAsync(params string[] args)
    {
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try { return (await ClientProgram.Main(args), error.ToString()); }
        finally { Console.SetError(previous); }
    }

    [Fact]
    public async Task An_invalid_spec_exits_with_code_2_naming_the_field_and_starts_nothing()
    {
        using var dir = new TempDirectory();
        string outDir = Path.Combine(dir.Path, "out");
        string dataDir = Path.Combine(dir.Path, "data");
        var (code, error) = await RunAsync("run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"),
            "--set", "training.batchSize=0", "--out", outDir, "--data", dataDir);
        Assert.Equal(2, code);
        Assert.Contains("training.batchSize: must be between 1 and 65536, got 0", error);
        Assert.False(Directory.Exists(outDir), "no output directory for a refused spec");
        Assert.False(Directory.Exists(dataDir), "no silo started (its data directory would exist)");
    }

    [Fact]
    public async Task Bad_paths_are_refused_before_anything_starts()
    {
        using var dir = new TempDirectory();
        string file = Path.Combine(dir.Path, "report.txt");
        File.WriteAllText(file, "not a folder");
        string dataDir = Path.Combine(dir.Path, "data");
        string ring = Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json");
        var (code, error) = await RunAsync("run", ring, "--out", file, "--data", dataDir);
        Assert.Equal(2, code);
        Assert.Contains($"--out: '{file}' is a file", error);
        (code, error) = await RunAsync("run", ring, "--out", Path.Combine(file, "inside"), "--data", dataDir);
        Assert.Equal(2, code);
        Assert.Contains($"'{file}' in ", error);
        (code, error) = await RunAsync("run", TestSpecs.ExamplesDirectory, "--data", dataDir);
        Assert.Equal(2, code);
        Assert.Contains("is a folder; name a spec file in it", error);
        Assert.Equal("not a folder", File.ReadAllText(file));
        Assert.False(Directory.Exists(dataDir), "no silo started (its data directory would exist)");
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "run" }, "run needs exactly one SPEC file")]
    [InlineData(new[] { "train", "x.json" }, "unknown command 'train'")]
    [InlineData(new[] { "run", "x.json", "--bogus", "1" }, "unknown option --bogus")]
    [InlineData(new[] { "run", "/nonexistent/spec.json" }, "spec file '/nonexistent/spec.json' does not exist")]
    [InlineData(new[] { "run", "x.json", "--out" }, "--out needs a value")]
    // The performance suite is its own program now (benchmarks/); the client's bench takes one SPEC.
    [InlineData(new[] { "bench", "--suite", "all" }, "unknown option --suite for 'bench'")]
    // The cluster verbs check their command line before connecting: no cluster listens on port 9, yet these are exit 2.
    [InlineData(new[] { "watch", "--cluster", "127.0.0.1:9" }, "watch needs exactly one sweep ID")]
    [InlineData(new[] { "status", "a", "b", "--cluster", "127.0.0.1:9" }, "status takes at most one sweep ID")]
    [InlineData(new[] { "cancel", "a", "--cluster", "127.0.0.1:9", "--bogus", "1" }, "unknown option --bogus")]
    [InlineData(new[] { "submit", "/nonexistent/sweep.json", "--cluster", "127.0.0.1:9" }, "spec file '/nonexistent/sweep.json' does not exist")]
    [InlineData(new[] { "submit", "x.json", "--cluster", "127.0.0.1:9", "--sweep", "a", "--new" }, "submit takes --sweep ID or --new, not both")]
    public async Task Bad_usage_exits_with_code_2_and_says_why(string[] args, string expected)
    {
        var (code, error) = await RunAsync(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Default_ids_made_in_a_tight_loop_are_distinct_and_readable()
    {
        // Most of these fall in the same second, on four threads at once: the old {name}-{time} ids would all merge.
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 4, _ => { for (int i = 0; i < 25_000; i++) ids.Add(GanCluster.Client.Cli.DefaultId.For("ring8")); });
        Assert.Equal(100_000, ids.Distinct().Count());
        Assert.All(ids.Take(100), id => Assert.Matches(@"^ring8-\d{8}-\d{6}-[0-9a-f]{8}$", id));
    }

    /// <summary>Every command that talks to a cluster, pointed at a Redis nothing listens on (refused at once).</summary>
    public static IEnumerable<object[]> ClusterCommands()
    {
        string sweep = Path.Combine(TestSpecs.ExamplesDirectory, "ring8-random.json");
        string single = Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json");
        string outDir = Path.Combine(Path.GetTempPath(), "gancluster-dead-cluster-" + Guid.NewGuid().ToString("N"));
        yield return ["run", single, "--out", outDir];
        yield return ["run", sweep, "--out", outDir];
        yield return ["submit", sweep];
        yield return ["status"];
        yield return ["status", "some-sweep"];
        yield return ["watch", "some-sweep"];
        yield return ["pause", "some-sweep"];
        yield return ["resume", "some-sweep"];
        yield return ["cancel", "some-sweep"];
        yield return ["results", "some-sweep", "--out", outDir];
    }

    [Theory]
    [MemberData(nameof(ClusterCommands))]
    public async Task Every_cluster_command_against_a_dead_cluster_is_one_line_and_code_3(params string[] args)
    {
        var (code, error) = await RunAsync([.. args, "--cluster", "redis://127.0.0.1:9"]);
        Assert.Equal(3, code);
        Assert.StartsWith("error: cannot reach a GanCluster cluster through Redis", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public async Task An_unreachable_cluster_is_a_clear_error_with_code_3_within_seconds()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, error) = await RunAsync("run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"), "--cluster", "127.0.0.1:1", "--out", Path.Combine(Path.GetTempPath(), "gancluster-unreachable"));
        Assert.Equal(3, code);
        Assert.Contains("cannot reach a GanCluster gateway at 127.0.0.1:1", error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}
