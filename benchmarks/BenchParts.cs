using GanCluster.Client.Cli;
using System.Diagnostics;
using System.Globalization;
using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Training;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;
using GanCluster.Grains.Compute;

namespace GanCluster.Benchmarks;

/// <summary>The plain loop kept alive on one dedicated compute thread (one intra-op thread), timed in windows.</summary>
internal sealed class PlainRunner : IAsyncDisposable
{
    private readonly TorchCompute thread = new(Options.Create(new ComputeOptions { Threads = 1, IntraOpThreads = 1 }));
    private ReferenceLoop? loop;

    public Task StartAsync(GanSpec spec, int warmup) => thread.RunAsync(() =>
    {
        loop = new ReferenceLoop(spec);
        loop.Run(warmup);
    });

    public Task<Rate> RunAsync(int steps) => thread.RunAsync(() =>
    {
        double cpu = CpuClock.Thread();
        var clock = Stopwatch.StartNew();
        loop!.Run(steps);
        return new Rate(steps, clock.Elapsed.TotalSeconds, CpuClock.Thread() - cpu);
    });

    public async ValueTask DisposeAsync()
    {
        // The loop's tensors belong to the compute thread: free them there, then stop it.
        await thread.RunAsync(() => loop?.Dispose());
        thread.Dispose();
    }
}

/// <summary>Members trained through the grains, timed from their status between two step counts.</summary>
internal static class Members
{
    public const long Endless = 100_000_000;

    /// <summary>The spec with no evaluation or checkpoint inside any window, and as many steps as needed.</summary>
    public static GanSpec Untimed(GanSpec spec, long steps = Endless) => spec with
    {
        Training = spec.Training with { Steps = steps },
        Evaluation = spec.Evaluation with { Every = steps, Samples = 100, MinSamplesPerMode = 1 },
        Checkpoint = spec.Checkpoint with { Every = steps },
    };

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    /// <summary>
    /// Starts a member, waits for <paramref name="warmup"/> steps, times <paramref name="window"/> steps, cancels it.
    /// With <paramref name="placement"/>, the generator and discriminator workers are activated first on the given
    /// silos (Orleans' placement hint), and the coordinator on the generator's.
    /// </summary>
    public static async Task<Rate> MeasureAsync(IClusterClient client, GanSpec spec, int warmup, int window, (SiloAddress G, SiloAddress D)? placement = null, IReadOnlyList<int>? processes = null, ThreadCpu? threads = null)
    {
        string id = NewId("bench");
        var member = client.GetGrain<ICoordinatorGrain>(id);
        if (placement is { } p) await PlaceWorkersAsync(client, id, p.G, p.D);
        try
        {
            if (placement is { } q) RequestContext.Set(IPlacementDirector.PlacementHintKey, q.G);
            await member.StartAsync(Untimed(spec));
        }
        finally { RequestContext.Clear(); }
        try
        {
            var (s0, t0) = await WaitForStepAsync(member, warmup);
            double cpu0 = Cpu(processes);
            if (threads is not null) await threads.BeginAsync();
            var (s1, t1) = await WaitForStepAsync(member, s0 + window);
            double cpu1 = Cpu(processes);
            if (threads is not null) await threads.EndAsync();
            return new Rate(s1 - s0, (t1 - t0).TotalSeconds, cpu1 - cpu0);
        }
        finally
        {
            await member.CancelAsync();
        }
    }

    /// <summary>CPU seconds of the given silo processes, or of this one (the embedded silo) when none are given.</summary>
    private static double Cpu(IReadOnlyList<int>? processes) => processes is null ? CpuClock.Self() : processes.Sum(CpuClock.OfProcess);

    /// <summary>
    /// Polls until the member reaches <paramref name="step"/>; returns the step seen and when. A poll is a grain call
    /// served by the measured silo (and its CPU time counts), so it sleeps through most of the time the member's own
    /// rate says is left and polls every 20 ms only near the end. The window's rate is exact however rarely it polls:
    /// it divides the steps by the time between two polls, each step count read with its own time.
    /// </summary>
    public static async Task<(long Step, TimeSpan At)> WaitForStepAsync(ICoordinatorGrain member, long step)
    {
        while (true)
        {
            var status = await member.GetStatusAsync();
            var at = Clock.Elapsed;
            if (status.Step >= step) return (status.Step, at);
            if (status.State.IsFinished()) throw new InvalidOperationException($"bench member ended {status.State} at step {status.Step}: {status.Error}");
            double left = status.StepsPerSecond > 0 ? (step - status.Step) / status.StepsPerSecond : 0;
            await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(left * 0.8, 0.02, 0.5)));
        }
    }

    public static readonly Stopwatch Clock = Stopwatch.StartNew();

    /// <summary>Activates a member's workers on chosen silos before its coordinator first calls them.</summary>
    public static async Task PlaceWorkersAsync(IClusterClient client, string memberId, SiloAddress generatorSilo, SiloAddress discriminatorSilo)
    {
        try
        {
            RequestContext.Set(IPlacementDirector.PlacementHintKey, generatorSilo);
            await Touch(() => client.GetGrain<Contracts.Workers.IGeneratorWorkerGrain>(memberId).ExportWeightsAsync());
            RequestContext.Set(IPlacementDirector.PlacementHintKey, discriminatorSilo);
            await Touch(() => client.GetGrain<Contracts.Workers.IDiscriminatorWorkerGrain>(memberId).ExportWeightsAsync());
        }
        finally { RequestContext.Clear(); }
        var management = client.GetGrain<IManagementGrain>(0);
        var g = await management.GetActivationAddress(client.GetGrain<Contracts.Workers.IGeneratorWorkerGrain>(memberId));
        var d = await management.GetActivationAddress(client.GetGrain<Contracts.Workers.IDiscriminatorWorkerGrain>(memberId));
        if (!Equals(g, generatorSilo) || !Equals(d, discriminatorSilo))
            throw new InvalidOperationException($"placement hint not honoured: generator on {g}, discriminator on {d}; wanted {generatorSilo} and {discriminatorSilo}");
    }

    // A fresh worker holds no network and says so: the call only activates it where the hint says.
    private static async Task Touch(Func<ValueTask<byte[]>> call)
    {
        try { await call(); }
        catch (Contracts.Workers.WorkerNotReadyException) { }
    }
}

/// <summary>An embedded silo in this process with its own temporary data directory.</summary>
internal sealed class EmbeddedSilo : IAsyncDisposable
{
    private readonly TempDirectory data = new();
    public ClusterConnection Connection { get; private set; } = null!;
    public string DataDirectory => data.Path;

    public static async Task<EmbeddedSilo> StartAsync(int computeThreads)
    {
        var silo = new EmbeddedSilo();
        var settings = new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = silo.data.Path,
            ["Gan:Compute:Threads"] = computeThreads.ToString(CultureInfo.InvariantCulture),
        };
        silo.Connection = await ClusterConnection.StartEmbeddedAsync(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(),
            Path.Combine(silo.data.Path, "silo.log"), CancellationToken.None);
        return silo;
    }

    public async ValueTask DisposeAsync()
    {
        if (Connection is not null) await Connection.DisposeAsync();
        data.Dispose();
    }
}

/// <summary>Two real silo processes (the built GanCluster.Silo.dll) on loopback, one cluster, and a client on the first.</summary>
internal sealed class TwoSilos : IAsyncDisposable
{
    private readonly TempDirectory data = new();
    private readonly List<Process> processes = [];
    private readonly List<System.Collections.Concurrent.ConcurrentQueue<string>> outputs = [];

    private string Tail(int silo) => silo < outputs.Count ? string.Join("\n", outputs[silo]) : "";
    public ClusterConnection Connection { get; private set; } = null!;
    public SiloAddress First { get; private set; } = null!;
    public SiloAddress Second { get; private set; } = null!;
    public IReadOnlyList<int> ProcessIds => processes.Select(p => p.Id).ToArray();
    /// <summary>Each silo's /metrics address (Prometheus text), in start order.</summary>
    public List<string> MetricsUrls { get; } = [];

    public static async Task<TwoSilos> StartAsync(string siloDll, int computeThreads)
    {
        if (siloDll.Length == 0 || !File.Exists(siloDll))
            throw new FileNotFoundException("no built GanCluster.Silo.dll (run `dotnet build Silo -c Release`, or pass --silo-dll PATH)");
        var two = new TwoSilos();
        try
        {
            string clusterId = $"bench-{Guid.NewGuid():N}"[..20];
            int siloA = FreePort(), siloB = FreePort(), gatewayA = FreePort();
            two.Start(siloDll, clusterId, siloA, gatewayA, primary: 0, computeThreads);
            await WaitForGatewayAsync(gatewayA, two.processes[0]);
            two.Start(siloDll, clusterId, siloB, FreePort(), primary: siloA, computeThreads);
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Gan:ClusterId"] = clusterId,
                ["Gan:ServiceId"] = clusterId,
            }).Build();
            two.Connection = await ClusterConnection.ConnectAsync($"127.0.0.1:{gatewayA}", TimeSpan.FromSeconds(60), CancellationToken.None, configuration);
            var management = two.Connection.Client.GetGrain<IManagementGrain>(0);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                var hosts = await management.GetHosts(onlyActive: true);
                if (hosts.Keys.Any(a => a.Endpoint.Port == siloA) && hosts.Keys.Any(a => a.Endpoint.Port == siloB))
                {
                    two.First = hosts.Keys.Single(a => a.Endpoint.Port == siloA);
                    two.Second = hosts.Keys.Single(a => a.Endpoint.Port == siloB);
                    break;
                }
                if (two.processes.Any(p => p.HasExited)) throw new InvalidOperationException("a silo process exited during start-up");
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"the second silo did not join within 60 s (active: {string.Join(", ", hosts.Keys)}; wanted ports {siloA} and {siloB}); its output:\n{two.Tail(1)}");
                await Task.Delay(200);
            }
            return two;
        }
        catch
        {
            await two.DisposeAsync();
            throw;
        }
    }

    public string DataDirectory => data.Path;

    private void Start(string dll, string clusterId, int siloPort, int gatewayPort, int primary, int computeThreads)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = data.Path };
        string url = $"http://127.0.0.1:{FreePort()}";
        MetricsUrls.Add(url + "/metrics");
        foreach (var a in new[] { dll, "--urls", url, "--Gan:DataDirectory", data.Path,
                     "--Gan:SiloPort", siloPort.ToString(CultureInfo.InvariantCulture), "--Gan:GatewayPort", gatewayPort.ToString(CultureInfo.InvariantCulture),
                     "--Gan:PrimarySiloPort", primary.ToString(CultureInfo.InvariantCulture), "--Gan:ClusterId", clusterId, "--Gan:ServiceId", clusterId,
                     "--Gan:Compute:Threads", computeThreads.ToString(CultureInfo.InvariantCulture), "--Serilog:MinimumLevel:Default", "Warning" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start a silo process");
        // Ctrl+C or a crash of the benchmark must not leave a silo behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillQuietly(process);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        outputs.Add(output);
        void Keep(string? line)
        {
            if (line is null) return;
            output.Enqueue(line);
            while (output.Count > 30) output.TryDequeue(out _);
        }
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        processes.Add(process);
    }

    private static void KillQuietly(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException) { }
    }

    private static async Task WaitForGatewayAsync(int port, Process process)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited) throw new InvalidOperationException($"the first silo exited with code {process.ExitCode}");
            try
            {
                using var socket = new System.Net.Sockets.TcpClient();
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) { await Task.Delay(200); }
        }
        throw new TimeoutException("the first silo's gateway did not open within 60 s");
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (Connection is not null)
        {
            try { await Connection.DisposeAsync(); }
            catch (Exception e) when (e is OperationCanceledException or OrleansException) { }
        }
        foreach (var p in processes)
        {
            try
            {
                if (!p.HasExited) p.Kill(entireProcessTree: true);
                p.WaitForExit(10_000);
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        data.Dispose();
    }
}

/// <summary>benchmarks/pytorch_gan.py as a subprocess serving timed windows on request (interleaved with TorchSharp).</summary>
internal sealed class PythonTorch : IDisposable
{
    private readonly Process process;

    private PythonTorch(Process process) => this.process = process;

    /// <param name="model">ring or dcgan: the workload pytorch_gan.py builds.</param>
    public static PythonTorch Start(string python, string script, string model)
    {
        if (!File.Exists(script)) throw new FileNotFoundException($"no {script}");
        var info = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(model);
        // As the issue prescribes for this command only: one OpenBLAS thread, its core type and L2 size detected.
        info.Environment["OPENBLAS_NUM_THREADS"] = "1";
        info.Environment.Remove("OPENBLAS_CORETYPE");
        info.Environment.Remove("OPENBLAS_L2_SIZE");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {python}");
        var torch = new PythonTorch(process);
        string first = torch.ReadLine();
        if (first != "ready") throw new InvalidOperationException($"pytorch_gan.py did not start: {first}");
        return torch;
    }

    private string ReadLine() => process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"pytorch_gan.py exited (code {(process.HasExited ? process.ExitCode : -1)})");

    private string Ask(string command)
    {
        process.StandardInput.WriteLine(command);
        process.StandardInput.Flush();
        string answer = ReadLine();
        if (answer.StartsWith("error", StringComparison.Ordinal)) throw new InvalidOperationException($"pytorch_gan.py: {answer}");
        return answer;
    }

    public string Versions() => Ask("versions");
    /// <summary>A timed window: wall-clock and the Python thread's CPU time (time.thread_time).</summary>
    public Rate Run(int steps)
    {
        var words = Ask($"run {steps}").Split(' ');
        return new Rate(steps, steps / double.Parse(words[1], CultureInfo.InvariantCulture), double.Parse(words[2], CultureInfo.InvariantCulture));
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.StandardInput.WriteLine("quit");
                process.StandardInput.Flush();
                if (!process.WaitForExit(5000)) process.Kill(entireProcessTree: true);
            }
        }
        catch (IOException) { }
        process.Dispose();
    }
}

internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("gancluster-bench-").FullName;
    public void Dispose()
    {
        try { Directory.Delete(Path, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// CPU time, the load-independent clock of the suite: on a shared machine wall-clock rates move with other people's
/// work, CPU-time rates (steps per CPU-second of the threads or processes doing the work) far less.
/// </summary>
internal static class CpuClock
{
    private const int ClockThreadCpuTime = 3; // CLOCK_THREAD_CPUTIME_ID

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds; public long Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>CPU seconds of the calling thread.</summary>
    public static double Thread() => ClockGetTime(ClockThreadCpuTime, out var t) == 0 ? t.Seconds + t.Nanoseconds / 1e9 : double.NaN;

    /// <summary>CPU seconds of this process.</summary>
    public static double Self()
    {
        using var p = Process.GetCurrentProcess();
        return p.TotalProcessorTime.TotalSeconds;
    }

    /// <summary>CPU seconds (user + system) of another process, from /proc/PID/stat (clock ticks of 1/100 s).</summary>
    public static double OfProcess(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields after the command: state is index 0, so utime (14th field) is index 11 and stime index 12.
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}

/// <summary>
/// CPU seconds of other processes' threads over a window, by thread name (digits dropped: "torch-compute-#",
/// ".NET TP Worker"), from /proc/PID/task/TID/stat: what the compute threads cost against everything else.
/// </summary>
internal sealed class ThreadCpu(IReadOnlyList<int> processes, IReadOnlyList<string> metricsUrls)
{
    private const string WorkItemsMetric = "dotnet_thread_pool_work_item_count_total", AllocatedMetric = "dotnet_gc_heap_total_allocated_bytes_total";
    private double workItems0, allocated0;
    /// <summary>Thread-pool work items run in the silos over the window (each a hand-off to a pool thread).</summary>
    public double WorkItems { get; private set; }
    public double AllocatedBytes { get; private set; }

    private Dictionary<(int, string), (string Name, double Seconds, long Waits)> start = [];
    public Dictionary<string, double> Seconds { get; } = [];
    /// <summary>Voluntary context switches (a thread went to sleep: each is a later wake-up, a thread hand-off).</summary>
    public Dictionary<string, long> Waits { get; } = [];

    /// <summary>CPU ms per step of the compute threads and of the rest (the three busiest others named), and sleeps per step.</summary>
    public static string Breakdown(ThreadCpu threads, Rate rate)
    {
        double compute = threads.Seconds.Where(t => IsCompute(t.Key)).Sum(t => t.Value);
        double other = threads.Seconds.Values.Sum() - compute;
        string top = string.Join(", ", threads.Seconds.Where(t => !IsCompute(t.Key)).OrderByDescending(t => t.Value).Take(3)
            .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value * 1000 / rate.Steps:F2}")));
        double waits = threads.Waits.Values.Sum() / rate.Steps;
        return string.Create(CultureInfo.InvariantCulture,
            $"CPU ms per step: compute threads {compute * 1000 / rate.Steps:F2}, other threads {other * 1000 / rate.Steps:F2} ({top}); thread sleeps per step {waits:F1}");
    }

    private static bool IsCompute(string thread) => thread.StartsWith("torch-compute", StringComparison.Ordinal);

    public async Task BeginAsync()
    {
        start = Snapshot();
        workItems0 = await Scrape.SumAsync(metricsUrls, WorkItemsMetric);
        allocated0 = await Scrape.SumAsync(metricsUrls, AllocatedMetric);
    }

    public async Task EndAsync()
    {
        WorkItems = await Scrape.SumAsync(metricsUrls, WorkItemsMetric) - workItems0;
        AllocatedBytes = await Scrape.SumAsync(metricsUrls, AllocatedMetric) - allocated0;
        Seconds.Clear();
        Waits.Clear();
        foreach (var (key, (name, seconds, waits)) in Snapshot())
        {
            var before = start.TryGetValue(key, out var s) ? s : (name, 0, 0);
            Seconds[name] = Seconds.GetValueOrDefault(name) + seconds - before.Seconds;
            Waits[name] = Waits.GetValueOrDefault(name) + waits - before.Waits;
        }
    }

    private Dictionary<(int, string), (string Name, double Seconds, long Waits)> Snapshot()
    {
        var result = new Dictionary<(int, string), (string, double, long)>();
        foreach (int pid in processes)
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                string stat, status;
                try
                {
                    stat = File.ReadAllText(Path.Combine(task, "stat"));
                    status = File.ReadAllText(Path.Combine(task, "status"));
                }
                catch (IOException) { continue; } // the thread ended
                const string Voluntary = "\nvoluntary_ctxt_switches:";
                int at = status.IndexOf(Voluntary, StringComparison.Ordinal) + Voluntary.Length;
                long waits = long.Parse(status.AsSpan(at, status.IndexOf('\n', at) - at).Trim(), CultureInfo.InvariantCulture);
                string name = new(stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')].Select(c => char.IsDigit(c) ? '#' : c).ToArray());
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                double seconds = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
                result[(pid, Path.GetFileName(task))] = (name, seconds, waits);
            }
        return result;
    }
}

/// <summary>Sums of Prometheus series (all label sets) read from silos' /metrics, for counts per step.</summary>
internal static class Scrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<double> SumAsync(IEnumerable<string> urls, string metric)
    {
        double sum = 0;
        foreach (var url in urls)
            foreach (var line in (await Http.GetStringAsync(url)).Split('\n'))
                if (line.StartsWith(metric, StringComparison.Ordinal) && line.Length > metric.Length && line[metric.Length] is ' ' or '{')
                    sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        return sum;
    }
}

/// <summary>Steps over a window in wall-clock and in CPU seconds.</summary>
internal readonly record struct Rate(double Steps, double WallSeconds, double CpuSeconds)
{
    public double PerSecond => Steps / WallSeconds;
    public double PerCpuSecond => Steps / CpuSeconds;
}
