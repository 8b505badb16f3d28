using System.Diagnostics;
using System.Text;
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
    private sealed class ClientProcess : IDisposable
    {
        private readonly StringBuilder text = new();
        public Process Process { get; }

        public ClientProcess(string workingDirectory, params string[] arguments)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "GanCluster.Client.dll"));
            foreach (var a in arguments) info.ArgumentList.Add(a);
            Process = Process.Start(info) ?? throw new InvalidOperationException("could not start the client");
            Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
            Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (text) text.AppendLine(e.Data); };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public string Output { get { lock (text) return text.ToString(); } }

        public async Task WaitForAsync(string marker, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            while (!Output.Contains(marker, StringComparison.Ordinal))
            {
                if (Process.HasExited) throw new Xunit.Sdk.XunitException($"the client exited ({Process.ExitCode}) before '{marker}':\n{Output}");
                if (clock.Elapsed > timeout) throw new TimeoutException($"no '{marker}' after {timeout.TotalSeconds} s:\n{Output}");
                await Task.Delay(200);
            }
        }

        public void Terminate()
        {
            using var kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            kill.WaitForExit();
        }

        public async Task<int> ExitCodeAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try { await Process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"the client did not exit within {timeout.TotalSeconds} s of SIGTERM:\n{Output}"); }
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

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
