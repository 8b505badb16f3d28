using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GanCluster.Tests.Support;

/// <summary>
/// A real silo process (GanCluster.Silo.dll from the test output) on loopback ports, for restart and scrape tests.
/// Disposing kills it, so no test leaves a process behind.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    private SiloProcess(Process process, int gatewayPort, int httpPort)
    {
        this.process = process;
        GatewayPort = gatewayPort;
        HttpPort = httpPort;
    }

    public int GatewayPort { get; }
    public int HttpPort { get; }
    public string Gateway => $"127.0.0.1:{GatewayPort}";
    public Uri BaseAddress => new($"http://127.0.0.1:{HttpPort}");
    public string Output { get { lock (output) return output.ToString(); } }
    public bool HasExited => process.HasExited;

    /// <param name="extraArguments">More command-line arguments, e.g. <c>--cluster redis://HOST:PORT</c>.</param>
    public static async Task<SiloProcess> StartAsync(string dataDirectory, int? gatewayPort = null, int? siloPort = null, int? httpPort = null,
        IEnumerable<string>? extraArguments = null)
    {
        int gateway = gatewayPort ?? FreePort(), silo = siloPort ?? FreePort(), http = httpPort ?? FreePort();
        string dll = Path.Combine(AppContext.BaseDirectory, "GanCluster.Silo.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        foreach (var a in new[] { dll, "--urls", $"http://127.0.0.1:{http}", "--Gan:DataDirectory", dataDirectory,
                     "--Gan:SiloPort", silo.ToString(), "--Gan:GatewayPort", gateway.ToString(), "--Gan:Compute:Threads", "2" })
            info.ArgumentList.Add(a);
        foreach (var a in extraArguments ?? []) info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the silo process");
        var silo_ = new SiloProcess(process, gateway, http);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (silo_.output) silo_.output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (silo_.output) silo_.output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await silo_.WaitHealthyAsync(TimeSpan.FromSeconds(60));
        return silo_;
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"silo exited with code {process.ExitCode}:\n{Output}");
            try
            {
                if ((await http.GetAsync("/health")).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(200);
        }
        Kill();
        throw new TimeoutException($"silo not healthy within {timeout.TotalSeconds:0} s:\n{Output}");
    }

    public async Task<string> ScrapeAsync(string path = "/metrics")
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        return await http.GetStringAsync(path);
    }

    public int Id => process.Id;

    /// <summary>SIGTERM: the silo shuts down gracefully (members checkpoint first); waits up to <paramref name="timeout"/> for it to exit.</summary>
    public async Task<bool> TerminateAsync(TimeSpan timeout)
    {
        if (process.HasExited) return true;
        if (SendSignal(process.Id, 15) != 0) return false; // SIGTERM
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>SIGKILL: no shutdown hooks, no last checkpoint.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        process.Dispose();
        return ValueTask.CompletedTask;
    }
}
