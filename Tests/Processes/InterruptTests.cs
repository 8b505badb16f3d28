using System.Text.Json.Nodes;
using GanCluster.Tests.Support;
using Xunit.Abstractions;

namespace GanCluster.Tests.Processes;

/// <summary>
/// SIGTERM (what <c>kill</c>, systemd and Kubernetes send) stops a client command as Ctrl+C does: the member or sweep
/// is cancelled after its checkpoint, the report is written, the exit code is 130. The client runs as its own process.
/// </summary>
[Collection(ProcessCollection.Name)]
public class InterruptTests(ITestOutputHelper output)
{
    [Fact]
    public async Task SIGTERM_cancels_a_run_after_its_checkpoint_writes_the_report_and_exits_130()
    {
        using var dir = new TempDirectory();
        string outDir = Path.Combine(dir.Path, "out");
        using var client = new ClientProcess(dir.Path, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"),
            "--set", "training.steps=1000000", "--set", "evaluation.every=200", "--out", outDir, "--data", Path.Combine(dir.Path, "data"));
        await client.WaitForAsync("modes", TimeSpan.FromSeconds(120)); // training, past its first evaluation
        client.Terminate();
        int code = await client.ExitCodeAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(client.Output);
        Assert.Equal(130, code);
        Assert.Contains("interrupted: cancelling the member", client.Output);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!;
        Assert.Equal("cancelled", report["members"]![0]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task SIGTERM_cancels_a_sweep_run_and_writes_its_results()
    {
        using var dir = new TempDirectory();
        string outDir = Path.Combine(dir.Path, "out");
        using var client = new ClientProcess(dir.Path, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8-random.json"),
            "--set", "training.steps=1000000", "--set", "search.concurrency=2", "--out", outDir, "--data", Path.Combine(dir.Path, "data"));
        await client.WaitForAsync("running", TimeSpan.FromSeconds(120));
        await Task.Delay(TimeSpan.FromSeconds(3));
        client.Terminate();
        int code = await client.ExitCodeAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(client.Output);
        Assert.Equal(130, code);
        Assert.Contains("interrupted: cancelling the sweep", client.Output);
        Assert.True(File.Exists(Path.Combine(outDir, "leaderboard.md")), "the sweep's results are written");
    }
}
