using System.Diagnostics;

namespace GanCluster.Tests.Processes;

/// <summary>A silo started with a bad setting says which one, exits with code 2 and starts nothing.</summary>
public class SiloCommandLineTests
{
    [Theory]
    [InlineData(new[] { "--cluster", "bogus" }, "error: --cluster: a silo joins a cluster through Redis: expected redis://HOST:PORT, got 'bogus'")]
    [InlineData(new[] { "--Gan:SiloPort", "99999" }, "error: Gan:SiloPort must be a TCP port, got 99999")]
    [InlineData(new[] { "--Gan:Dashboard", "yes" }, "error: Gan:Dashboard must be off, on or an http://HOST:PORT address (on = http://127.0.0.1:8080), got 'yes'")]
    public async Task A_bad_setting_is_a_one_line_error_with_exit_code_2(string[] args, string expected)
    {
        using var data = new Support.TempDirectory();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "GanCluster.Silo.dll"));
        foreach (var a in new[] { "--urls", $"http://127.0.0.1:{Support.SiloProcess.FreePort()}", "--Gan:DataDirectory", data.Path }) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try { await process.WaitForExitAsync(timeout.Token); }
        finally { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        string error = await stderr;
        Assert.Equal(2, process.ExitCode);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
        await stdout;
    }
}
