using GanCluster.Client.Cli;
using System.Diagnostics;
using System.Globalization;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Training;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;

namespace GanCluster.Benchmarks;

/// <summary>The plain loop alone, for profilers (perf, valgrind): not part of "all".</summary>
internal static partial class PlainOnly
{
    public static async Task RunAsync(BenchSettings s)
    {
        await using var plain = new PlainRunner();
        await plain.StartAsync(s.Spec, s.Warmup);
        for (int r = 0; r < s.Rounds; r++)
        {
            var rate = await plain.RunAsync(s.Window);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  plain loop: {rate.PerSecond:F1} steps/s, {rate.PerCpuSecond:F1} steps per CPU-second"));
        }
    }
}

internal static partial class PlainOnly
{
    /// <summary>One member on an embedded silo alone, for profilers: not part of "all".</summary>
    public static async Task RunMemberAsync(BenchSettings s)
    {
        await using var one = await EmbeddedSilo.StartAsync(computeThreads: 1);
        var threads = new ThreadCpu([Environment.ProcessId], []);
        for (int r = 0; r < s.Rounds; r++)
        {
            var rate = await Members.MeasureAsync(one.Connection.Client, s.Spec with { Seed = s.Spec.Seed + r }, s.Warmup, s.Window, threads: threads);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  member, one silo: {rate.PerSecond:F1} steps/s, {rate.PerCpuSecond:F1} steps per CPU-second; {ThreadCpu.Breakdown(threads, rate)}"));
        }
    }
}

internal static partial class PlainOnly
{
    /// <summary>One member across two silo processes alone (G and coordinator | D), for profilers: not part of "all".</summary>
    public static async Task RunTwoSilosAsync(BenchSettings s)
    {
        await using var two = await TwoSilos.StartAsync(s.SiloDll, computeThreads: 1);
        Console.WriteLine($"  two silos: process {two.ProcessIds[0]} (generator, coordinator) and {two.ProcessIds[1]} (discriminator)");
        var threads = new ThreadCpu(two.ProcessIds, two.MetricsUrls);
        await Members.MeasureAsync(two.Connection.Client, s.Spec, s.Warmup, s.Window, (two.First, two.Second), two.ProcessIds); // JIT warm-up
        for (int r = 0; r < s.Rounds; r++)
        {
            var rate = await Members.MeasureAsync(two.Connection.Client, s.Spec with { Seed = s.Spec.Seed + r }, s.Warmup, s.Window, (two.First, two.Second), two.ProcessIds, threads);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  member, two silos: {rate.PerSecond:F1} steps/s, {rate.PerCpuSecond:F1} steps per CPU-second of both silos; {ThreadCpu.Breakdown(threads, rate)}, thread-pool work items per step {threads.WorkItems / rate.Steps:F1}, allocated KiB per step {threads.AllocatedBytes / 1024 / rate.Steps:F1}"));
        }
    }
}

/// <summary>Per-round figures of A against B, in wall-clock and in CPU time.</summary>
internal sealed class Comparison(string a, string b)
{
    private readonly List<Rate> first = [], second = [];

    public void Add(Rate x, Rate y)
    {
        first.Add(x);
        second.Add(y);
    }

    public double MedianA => Stats.Median(first.Select(r => r.PerSecond));
    public double MedianB => Stats.Median(second.Select(r => r.PerSecond));
    public double MedianCpuA => Stats.Median(first.Select(r => r.PerCpuSecond));
    public double MedianCpuB => Stats.Median(second.Select(r => r.PerCpuSecond));
    public double Ratio => Stats.Median(first.Zip(second, (x, y) => y.PerSecond / x.PerSecond));
    public double CpuRatio => Stats.Median(first.Zip(second, (x, y) => y.PerCpuSecond / x.PerCpuSecond));

    public void Print(string target)
    {
        Console.WriteLine($"  {a,-28} {Stats.Range(first.Select(r => r.PerSecond).ToArray()),-30} steps/s | {Stats.Range(first.Select(r => r.PerCpuSecond).ToArray())} per CPU-s");
        Console.WriteLine($"  {b,-28} {Stats.Range(second.Select(r => r.PerSecond).ToArray()),-30} steps/s | {Stats.Range(second.Select(r => r.PerCpuSecond).ToArray())} per CPU-s");
        Console.WriteLine($"  {b} / {a}: wall-clock {Stats.Range(first.Zip(second, (x, y) => y.PerSecond / x.PerSecond).ToArray(), "F3")}, CPU time {Stats.Range(first.Zip(second, (x, y) => y.PerCpuSecond / x.PerCpuSecond).ToArray(), "F3")}  ({target})");
    }
}

/// <summary>1. One GAN: the plain loop, the cluster on one embedded silo, and across two silo processes; per workload.</summary>
internal static class GanThroughput
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        Console.WriteLine("1. one GAN: plain TorchSharp loop vs the cluster's alternating mode (one embedded silo; two silo processes on loopback, G on one and D on the other)");
        Console.WriteLine("   CPU time: the plain loop's thread; for the cluster every thread of this process (one silo) or of both silo processes");
        await using var one = await EmbeddedSilo.StartAsync(computeThreads: 1);
        TwoSilos? two = null;
        try
        {
            two = await TwoSilos.StartAsync(s.SiloDll, computeThreads: 1);
            Console.WriteLine($"  two silos: {two.First} (generator, coordinator) and {two.Second} (discriminator); client on the first's gateway");
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidOperationException or TimeoutException or GanCluster.Client.Hosting.ClusterUnreachableException)
        {
            Console.WriteLine($"  two silos: not measured: {e.Message}");
        }
        try
        {
            foreach (var w in s.Workloads) await RunAsync(s, w, one, two);
        }
        finally
        {
            if (two is not null) await two.DisposeAsync();
        }
    }

    private static async Task RunAsync(BenchSettings s, Workload w, EmbeddedSilo one, TwoSilos? two)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"  {w.Name}: windows of {w.Window} steps after {w.Warmup} warm-up steps");
        await using var plain = new PlainRunner();
        await plain.StartAsync(w.Spec, w.Warmup);
        // Fresh silos JIT-compile and tier up their code paths during their first members; the plain loop had its
        // warm-up, so have they.
        await Members.MeasureAsync(one.Connection.Client, w.Spec, w.Warmup, w.Window);
        if (two is not null) await Members.MeasureAsync(two.Connection.Client, w.Spec, w.Warmup, w.Window, (two.First, two.Second), two.ProcessIds);
        var oneSilo = new Comparison("plain loop", "cluster, one silo");
        var twoSilos = new Comparison("plain loop", "cluster, two silos");
        for (int r = 0; r < s.Rounds; r++)
        {
            var p = await plain.RunAsync(w.Window);
            var e = await Members.MeasureAsync(one.Connection.Client, w.Spec with { Seed = w.Spec.Seed + r }, w.Warmup, w.Window);
            oneSilo.Add(p, e);
            string line = string.Create(c, $"  round {r + 1}: plain {p.PerSecond:F1} ({p.PerCpuSecond:F1}/CPU-s), one silo {e.PerSecond:F1} ({e.PerCpuSecond:F1})");
            if (two is not null)
            {
                var t = await Members.MeasureAsync(two.Connection.Client, w.Spec with { Seed = w.Spec.Seed + r }, w.Warmup, w.Window, (two.First, two.Second), two.ProcessIds);
                var p2 = await plain.RunAsync(w.Window);
                twoSilos.Add(p2, t);
                line += string.Create(c, $", two silos {t.PerSecond:F1} ({t.PerCpuSecond:F1}), plain {p2.PerSecond:F1} ({p2.PerCpuSecond:F1})");
            }
            Console.WriteLine(line + " steps/s");
        }
        oneSilo.Print(string.Create(c, $"{w.Name}: target ≥ {w.OneSiloTarget:F2}"));
        if (two is not null) twoSilos.Print(string.Create(c, $"{w.Name}: target ≥ {w.TwoSiloTarget:F2}"));
    }
}

/// <summary>2. The same GANs as a PyTorch user would write them (benchmarks/pytorch_gan.py), interleaved with the plain TorchSharp loop.</summary>
internal static class PyTorchComparison
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        Console.WriteLine("2. the same GANs in idiomatic PyTorch (one D step and one G step with loss.backward(); one thread each, same windows, alternating; CPU time of each one's thread)");
        foreach (var w in s.Workloads) await RunAsync(s, w);
    }

    private static async Task RunAsync(BenchSettings s, Workload w)
    {
        var c = CultureInfo.InvariantCulture;
        PythonTorch torch;
        try { torch = PythonTorch.Start(s.Python, s.PythonScript, w.Name); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or FileNotFoundException)
        {
            Console.WriteLine($"  {w.Name}: not measured: {e.Message}");
            return;
        }
        using (torch)
        {
            Console.WriteLine($"  {w.Name}: PyTorch {torch.Versions()}; OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset");
            await using var plain = new PlainRunner();
            await plain.StartAsync(w.Spec, w.Warmup);
            torch.Run(w.Warmup);
            var comparison = new Comparison("PyTorch", "plain TorchSharp loop");
            for (int r = 0; r < s.Rounds; r++)
            {
                var b = torch.Run(w.Window);
                var a = await plain.RunAsync(w.Window);
                comparison.Add(b, a);
                Console.WriteLine(string.Create(c, $"  round {r + 1}: PyTorch {b.PerSecond:F1} ({b.PerCpuSecond:F1}/CPU-s), TorchSharp {a.PerSecond:F1} ({a.PerCpuSecond:F1}) steps/s"));
            }
            comparison.Print($"{w.Name}: TorchSharp / PyTorch");
        }
    }
}

/// <summary>3. Many members training at once on one embedded silo: member-steps per second.</summary>
internal static class ManyMembers
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        int threads = Environment.ProcessorCount;
        Console.WriteLine($"3. many members on one embedded silo ({threads} compute threads of one intra-op thread): member-steps per second");
        await using var silo = await EmbeddedSilo.StartAsync(threads);
        var client = silo.Connection.Client;
        var window = TimeSpan.FromSeconds(s.Quick ? 5 : 20);
        Console.WriteLine("  members | member-steps/s | per member | of 1 member | member-steps per CPU-second (this process)");
        double? single = null;
        var rows = new List<(int Members, double Rate, double CpuRate)>();
        foreach (int count in new[] { 1, 4, 16, 64 })
        {
            var members = Enumerable.Range(0, count).Select(_ => client.GetGrain<ICoordinatorGrain>(Members.NewId($"many{count}"))).ToArray();
            await Task.WhenAll(members.Select((m, i) => m.StartAsync(Members.Untimed(s.Spec with { Seed = s.Spec.Seed + i })).AsTask()));
            try
            {
                // Warm: every member past its first steps, and at least s.Warmup member-steps in all (the JIT's work
                // on the first level is not the members' cost).
                long warm = Math.Max(20, s.Warmup * 2 / count);
                foreach (var m in members) await Members.WaitForStepAsync(m, warm);
                long before = await TotalAsync(members);
                double cpu = CpuClock.Self();
                var clock = Stopwatch.StartNew();
                await Task.Delay(window);
                long after = await TotalAsync(members);
                double rate = (after - before) / clock.Elapsed.TotalSeconds;
                double cpuRate = (after - before) / (CpuClock.Self() - cpu);
                single ??= rate;
                rows.Add((count, rate, cpuRate));
                Console.WriteLine(string.Create(c, $"  {count,7} | {rate,14:F0} | {rate / count,10:F1} | {rate / single.Value,11:F2} | {cpuRate,8:F0}"));
            }
            finally
            {
                await Task.WhenAll(members.Select(m => m.CancelAsync().AsTask()));
            }
        }
        if (s.OutDirectory is not null) Plot(s.OutDirectory, rows);
    }

    /// <summary>The scaling curve: member-steps per second and per CPU-second against the number of members.</summary>
    private static void Plot(string directory, List<(int Members, double Rate, double CpuRate)> rows)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, "members-scaling.png");
        using var plot = new ScottPlot.Plot();
        GanCluster.Client.Reports.SamplesPlot.UseSansFont(plot);
        double[] x = rows.Select(r => Math.Log2(r.Members)).ToArray();
        var wall = plot.Add.Scatter(x, rows.Select(r => r.Rate).ToArray());
        wall.LegendText = "member-steps per second";
        var cpu = plot.Add.Scatter(x, rows.Select(r => r.CpuRate).ToArray());
        cpu.LegendText = "member-steps per CPU-second";
        plot.Axes.Bottom.SetTicks(x, rows.Select(r => r.Members.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.XLabel("members training at once");
        plot.YLabel("member-steps");
        plot.Title($"many members on one embedded silo ({Environment.ProcessorCount} compute threads)");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        GanCluster.Client.Reports.SamplesPlot.Save(plot, path, 800, 500);
        Console.WriteLine($"  scaling curve: {path}");
    }

    private static async Task<long> TotalAsync(ICoordinatorGrain[] members) =>
        (await Task.WhenAll(members.Select(m => m.GetStatusAsync().AsTask()))).Sum(x => x.Step);
}

/// <summary>4. Memory: resident memory and live tensors over a long member and over a sweep of short members.</summary>
internal static class MemoryGrowth
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        long steps = s.MemorySteps;
        Console.WriteLine($"4. memory: VmRSS of this process (embedded silo) and live TorchSharp tensors on the compute thread (one thread: TorchSharp counts tensors per thread)");
        Console.WriteLine($"  ({ProcessMemory.Legend})");
        await using var silo = await EmbeddedSilo.StartAsync(computeThreads: 1);
        var compute = silo.Connection.Services.GetRequiredService<TorchCompute>();
        var client = silo.Connection.Client;

        Console.WriteLine($"  one member, {steps:N0} steps (evaluation and checkpoint every {steps / 10:N0}):");
        var spec = s.Spec with
        {
            Training = s.Spec.Training with { Steps = steps },
            Evaluation = s.Spec.Evaluation with { Every = steps / 10 },
            Checkpoint = s.Spec.Checkpoint with { Every = steps / 10 },
        };
        var member = client.GetGrain<ICoordinatorGrain>(Members.NewId("memory"));
        await member.StartAsync(spec);
        var samples = new List<(long Step, double Rss, long Tensors)>();
        for (int i = 1; i <= 10; i++)
        {
            var (at, _) = await Members.WaitForStepAsync(member, steps * i / 10 - 1);
            long tensors = await LiveTensorsAsync(compute);
            var m = ProcessMemory.Sample();
            samples.Add((at, m.RssMiB, tensors));
            Console.WriteLine(string.Create(c, $"    step {at,7}: VmRSS {samples[^1].Rss,7:F1} MiB, live tensors {samples[^1].Tensors}; {m.Columns()}"));
        }
        var warm = samples[1];
        Console.WriteLine(string.Create(c, $"    growth after warm-up (step {warm.Step} → {samples[^1].Step}): VmRSS {samples[^1].Rss - warm.Rss:+0.0;-0.0} MiB, live tensors {samples[^1].Tensors - warm.Tensors:+0;-0}"));

        await member.CancelAsync();
        var idle = ProcessMemory.Sample();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var before = ProcessMemory.Sample();
        Console.WriteLine(string.Create(c, $"    a full compacting GC at the end gives back {idle.RssMiB - before.RssMiB:F1} MiB of VmRSS ({idle.RssMiB:F1} → {before.RssMiB:F1}; GC heap {idle.GcHeapMiB:F1} → {before.GcHeapMiB:F1}, committed {idle.GcCommittedMiB:F1} → {before.GcCommittedMiB:F1} MiB)"));
        int waves = s.MemoryWaves, perWave = 8;
        if (waves == 0) return;
        long shortSteps = s.Quick ? 50 : 400;
        Console.WriteLine($"  a sweep of {waves * perWave} short members ({shortSteps} steps each, {perWave} at a time):");
        var sweep = new List<(double Rss, long Tensors)>();
        var retained = new List<ProcessMemory>();
        var shortSpec = s.Spec with
        {
            Training = s.Spec.Training with { Steps = shortSteps },
            Evaluation = s.Spec.Evaluation with { Every = shortSteps, Samples = 500, MinSamplesPerMode = 1 },
            Checkpoint = s.Spec.Checkpoint with { Every = shortSteps },
        };
        for (int w = 0; w < waves; w++)
        {
            var wave = Enumerable.Range(0, perWave).Select(_ => client.GetGrain<ICoordinatorGrain>(Members.NewId("sweep"))).ToArray();
            await Task.WhenAll(wave.Select((m, i) => m.StartAsync(shortSpec with { Seed = w * perWave + i }).AsTask()));
            foreach (var m in wave)
            {
                MemberStatus status;
                do { await Task.Delay(50); status = await m.GetStatusAsync(); } while (!status.State.IsFinished());
            }
            long tensors = await LiveTensorsAsync(compute);
            var mem = ProcessMemory.Sample();
            sweep.Add((mem.RssMiB, tensors));
            Console.WriteLine(string.Create(c, $"    after {(w + 1) * perWave,2} members: VmRSS {sweep[^1].Rss,7:F1} MiB, live tensors {sweep[^1].Tensors}; {mem.Columns()}"));
            // What the sweep keeps, as against garbage not yet collected: the same after a full compacting collection.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            retained.Add(ProcessMemory.Sample());
            Console.WriteLine(string.Create(c, $"         after a full GC: VmRSS {retained[^1].RssMiB,7:F1} MiB, GC heap {retained[^1].GcHeapMiB:F1} MiB (live {retained[^1].ManagedLiveMiB:F1})"));
        }
        var half = sweep[Math.Max(0, sweep.Count / 2 - 1)];
        var keptHalf = retained[Math.Max(0, retained.Count / 2 - 1)];
        Console.WriteLine(string.Create(c, $"    growth over the second half ({waves * perWave / 2} → {waves * perWave} members): VmRSS {sweep[^1].Rss - half.Rss:+0.0;-0.0} MiB, live tensors {sweep[^1].Tensors - half.Tensors:+0;-0}; after the first wave: VmRSS {sweep[^1].Rss - sweep[0].Rss:+0.0;-0.0} MiB"));
        Console.WriteLine(string.Create(c, $"    after a full GC each time, over the second half: VmRSS {retained[^1].RssMiB - keptHalf.RssMiB:+0.0;-0.0} MiB, GC heap {retained[^1].GcHeapMiB - keptHalf.GcHeapMiB:+0.0;-0.0} MiB"));
    }

    /// <summary>Resident memory of this process, from /proc/self/status.</summary>
    public static double RssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    /// <summary>Tensors created and not disposed on the (single) compute thread: DisposeScope statistics are per thread.</summary>
    private static Task<long> LiveTensorsAsync(TorchCompute compute) =>
        compute.RunAsync(() => TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
}
