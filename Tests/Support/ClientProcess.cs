using System.Diagnostics;
using System.Text;

namespace GanCluster.Tests.Support;

/// <summary>The client (GanCluster.Client.dll) as its own process, its stdout and stderr collected together.</summary>
public sealed class ClientProcess : IDisposable
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
