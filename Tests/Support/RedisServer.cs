using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace GanCluster.Tests.Support;

/// <summary>
/// A real redis-server process (Debian's) on a free loopback port, append-only persistence on, in a temporary
/// directory. Disposing kills it and removes the directory, so no test leaves a process behind.
/// </summary>
public sealed class RedisServer : IAsyncDisposable, IDisposable
{
    private readonly Process process;
    private readonly TempDirectory directory;
    private readonly StringBuilder output = new();

    private RedisServer(Process process, TempDirectory directory, int port)
    {
        this.process = process;
        this.directory = directory;
        Port = port;
    }

    public int Port { get; }
    /// <summary>"127.0.0.1:PORT", as Gan:Cluster:Redis takes it.</summary>
    public string Address => $"127.0.0.1:{Port}";
    public string Url => $"redis://127.0.0.1:{Port}";
    public string Output { get { lock (output) return output.ToString(); } }

    public static async Task<RedisServer> StartAsync()
    {
        string exe = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run installs it)");
        var directory = new TempDirectory();
        int port = SiloProcess.FreePort();
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", directory.Path, "--appendonly", "yes",
                     "--save", "", "--daemonize", "no", "--protected-mode", "yes" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start redis-server");
        var server = new RedisServer(process, directory, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (server.output) server.output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server.output) server.output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (process.HasExited) { server.Dispose(); throw new InvalidOperationException($"redis-server exited with code {process.ExitCode}:\n{server.Output}"); }
            if (await server.PingAsync()) return server;
            if (DateTime.UtcNow > deadline) { server.Dispose(); throw new TimeoutException($"redis-server did not answer PING within 20 s:\n{server.Output}"); }
            await Task.Delay(100);
        }
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            int n = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        process.Dispose();
        directory.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
