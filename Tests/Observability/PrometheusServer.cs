using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Observability;

/// <summary>
/// A real Prometheus server (the Debian package's binary) on a free loopback port with its storage in a temporary
/// folder, scraping the given targets every second and loading deploy/'s alert rules. Disposing kills it.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process process;
    private readonly TempDirectory directory;
    private readonly StringBuilder output = new();
    private readonly HttpClient http;

    private PrometheusServer(Process process, TempDirectory directory, int port)
    {
        this.process = process;
        this.directory = directory;
        http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Output { get { lock (output) return output.ToString(); } }

    public static async Task<PrometheusServer> StartAsync(IEnumerable<string> targets, TimeSpan timeout)
    {
        var directory = new TempDirectory();
        int port = SiloProcess.FreePort();
        string config = Path.Combine(directory.Path, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {DeployFiles.AlertRules}
            scrape_configs:
              - job_name: gancluster-silo
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"\"{t}\""))}]
            """);
        var info = new ProcessStartInfo("prometheus")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory.Path,
        };
        foreach (var a in new[] { $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory.Path, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}" })
            info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info) ?? throw new InvalidOperationException("could not start prometheus"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            directory.Dispose();
            throw new InvalidOperationException($"prometheus is not installed (Debian package 'prometheus'; .ci/run installs it): {e.Message}", e);
        }
        var server = new PrometheusServer(process, directory, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (server.output) server.output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server.output) server.output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                if (process.HasExited) throw new InvalidOperationException($"prometheus exited with code {process.ExitCode}:\n{server.Output}");
                try
                {
                    if ((await server.http.GetAsync("/-/ready")).StatusCode == HttpStatusCode.OK) return server;
                }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"prometheus not ready within {timeout.TotalSeconds:0} s:\n{server.Output}");
                await Task.Delay(200);
            }
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>/api/v1/query: the "data" element of a successful answer; a PromQL error throws with Prometheus' message.</summary>
    public async Task<JsonElement> QueryAsync(string promQl)
    {
        using var response = await http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promQl));
        string body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query {promQl} failed: {body}");
        return doc.RootElement.GetProperty("data").Clone();
    }

    /// <summary>/api/v1/rules: the names of the alerting rules the server loaded.</summary>
    public async Task<IReadOnlyList<string>> AlertRuleNamesAsync()
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync("/api/v1/rules?type=alert"));
        return doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray()).Select(r => r.GetProperty("name").GetString()!).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(cts.Token);
        }
        catch (InvalidOperationException) { }
        catch (OperationCanceledException) { }
        process.Dispose();
        directory.Dispose();
    }
}
