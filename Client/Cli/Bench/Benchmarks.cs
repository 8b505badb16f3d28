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

namespace GanCluster.Client.Cli.Bench;

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

/// <summary>1. One GAN: the plain loop, the cluster on one embedded silo, and across two silo processes.</summary>
internal static class GanThroughput
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine("1. one GAN: plain TorchSharp loop vs the cluster's alternating mode (one embedded silo; two silo processes on loopback, G on one and D on the other)");
        Console.WriteLine("   CPU time: the plain loop's thread; for the cluster every thread of this process (one silo) or of both silo processes");
        await using var plain = new PlainRunner();
        await plain.StartAsync(s.Spec, s.Warmup);
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
            // Fresh silos JIT-compile and tier up their code paths during their first members (measured: up to 1 ms of
            // CPU per step in the first window of a new silo process); the plain loop had its warm-up, so have they.
            await Members.MeasureAsync(one.Connection.Client, s.Spec, s.Warmup, s.Window);
            if (two is not null) await Members.MeasureAsync(two.Connection.Client, s.Spec, s.Warmup, s.Window, (two.First, two.Second), two.ProcessIds);
            var oneSilo = new Comparison("plain loop", "cluster, one silo");
            var twoSilos = new Comparison("plain loop", "cluster, two silos");
            for (int r = 0; r < s.Rounds; r++)
            {
                var p = await plain.RunAsync(s.Window);
                var e = await Members.MeasureAsync(one.Connection.Client, s.Spec with { Seed = s.Spec.Seed + r }, s.Warmup, s.Window);
                oneSilo.Add(p, e);
                string line = string.Create(c, $"  round {r + 1}: plain {p.PerSecond:F0} ({p.PerCpuSecond:F0}/CPU-s), one silo {e.PerSecond:F0} ({e.PerCpuSecond:F0})");
                if (two is not null)
                {
                    var t = await Members.MeasureAsync(two.Connection.Client, s.Spec with { Seed = s.Spec.Seed + r }, s.Warmup, s.Window, (two.First, two.Second), two.ProcessIds);
                    var p2 = await plain.RunAsync(s.Window);
                    twoSilos.Add(p2, t);
                    line += string.Create(c, $", two silos {t.PerSecond:F0} ({t.PerCpuSecond:F0}), plain {p2.PerSecond:F0} ({p2.PerCpuSecond:F0})");
                }
                Console.WriteLine(line + " steps/s");
            }
            results.PlainStepsPerSecond = oneSilo.MedianA;
            oneSilo.Print("target ≥ 0.9");
            if (two is not null) twoSilos.Print("target ≥ 0.75");
        }
        finally
        {
            if (two is not null) await two.DisposeAsync();
        }
    }
}

/// <summary>2. The same GAN in PyTorch (benchmarks/pytorch_gan.py), interleaved with the plain TorchSharp loop.</summary>
internal static class PyTorchComparison
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine("2. the same GAN and schedule in PyTorch (one thread each, same windows, alternating; CPU time of each one's thread)");
        PythonTorch torch;
        try { torch = PythonTorch.Start(s.Python, s.PythonScript); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or FileNotFoundException)
        {
            Console.WriteLine($"  not measured: {e.Message}");
            return;
        }
        using (torch)
        {
            Console.WriteLine($"  PyTorch: {torch.Versions()}; OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset");
            await using var plain = new PlainRunner();
            await plain.StartAsync(s.Spec, s.Warmup);
            torch.Run(s.Warmup);
            var comparison = new Comparison("PyTorch", "plain TorchSharp loop");
            for (int r = 0; r < s.Rounds; r++)
            {
                var b = torch.Run(s.Window);
                var a = await plain.RunAsync(s.Window);
                comparison.Add(b, a);
                Console.WriteLine(string.Create(c, $"  round {r + 1}: PyTorch {b.PerSecond:F0} ({b.PerCpuSecond:F0}/CPU-s), TorchSharp {a.PerSecond:F0} ({a.PerCpuSecond:F0}) steps/s"));
            }
            results.PlainStepsPerSecond ??= comparison.MedianB;
            results.PlainStepsPerCpuSecond = comparison.MedianCpuB;
            results.PyTorchStepsPerCpuSecond = comparison.MedianCpuA;
            comparison.Print("target ≥ 1");
            // The BLAS of each at the model's matrix shapes (forward, weight gradient, input gradient), per CPU-second.
            int b_ = s.Spec.Training.BatchSize, w = s.Spec.Model.Generator.Width;
            foreach (var (m, k, n, what) in new[] { (b_, w, w, "forward [B,128]·[128,128]"), (w, b_, w, "weight grad [128,B]·[B,128]"), (s.Quick ? 1024 : 2048, s.Quick ? 1024 : 2048, s.Quick ? 1024 : 2048, "large square") })
            {
                int reps = (long)m * k * n > 100_000_000 ? 5 : 2000; // long: 2048³ overflows an int (and asked for 2,000 products of 17 GFLOP)
                var ts = new List<double>();
                var py = new List<double>();
                for (int r = 0; r < 3; r++)
                {
                    ts.Add(await plain.OnThreadAsync(_ => Roofline.MatmulGflops(m, k, n, reps)));
                    py.Add(torch.MatmulGflops(m, k, n, reps));
                }
                Console.WriteLine(string.Create(c, $"  BLAS sgemm {what} ({m}×{k}·{k}×{n}): TorchSharp/libtorch (MKL) {ts.Max():F1}, PyTorch (OpenBLAS) {py.Max():F1} GFLOP per CPU-second (best of 3)"));
            }
        }
    }
}

/// <summary>3. The roofline: one GAN step's FLOP rate against this machine's single-thread matmul peak.</summary>
internal static class Roofline
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine("3. roofline: FLOP rate of the plain loop against the single-thread float32 matmul peak (TorchSharp torch.mm), both per CPU-second of the thread");
        await using var plain = new PlainRunner();
        await plain.StartAsync(s.Spec, s.Warmup);
        double flops = await plain.OnThreadAsync(StepFlops.PerStep);
        int n = s.Quick ? 1024 : 2048;
        var peaks = new List<double>();
        var small = new List<double>();
        var rates = new List<Rate>();
        for (int r = 0; r < s.Rounds; r++)
        {
            peaks.Add(await plain.OnThreadAsync(_ => MatmulGflops(n, n, n, s.Quick ? 10 : 8)));
            // The model's own products: [B, 128] × [128, 128].
            small.Add(await plain.OnThreadAsync(_ => MatmulGflops(s.Spec.Training.BatchSize, s.Spec.Model.Generator.Width, s.Spec.Model.Generator.Width, 2000)));
            rates.Add(await plain.RunAsync(s.Window));
        }
        double peak = peaks.Max();
        double cpuRate = Stats.Median(rates.Select(r => r.PerCpuSecond));
        double wallRate = Stats.Median(rates.Select(r => r.PerSecond));
        double achieved = cpuRate * flops / 1e9;
        Console.WriteLine(string.Create(c, $"  FLOPs per step (linear layers, the schedule's products): {flops / 1e6:F1} M"));
        Console.WriteLine(string.Create(c, $"  matmul peak, torch.mm {n}×{n} at one thread: {peak:F1} GFLOP per CPU-second (best of {peaks.Count}; median {Stats.Median(peaks):F1})"));
        Console.WriteLine(string.Create(c, $"  the model's shape, {s.Spec.Training.BatchSize}×{s.Spec.Model.Generator.Width} · {s.Spec.Model.Generator.Width}×{s.Spec.Model.Generator.Width}: {Stats.Range(small)} GFLOP per CPU-second"));
        Console.WriteLine(string.Create(c, $"  matmul-bound limit: {peak * 1e9 / flops:F0} steps per CPU-second; plain loop {cpuRate:F0} per CPU-second ({wallRate:F0} per wall second) = {achieved:F1} GFLOP/s = {achieved / peak:F3} of the peak  (target ≥ 0.6)"));
        // This machine's speed drifts between seconds: each round's loop against the peak measured just before it.
        var paired = rates.Zip(peaks, (rate, p) => rate.PerCpuSecond * flops / 1e9 / p).ToArray();
        Console.WriteLine(string.Create(c, $"  each round's loop against the peak measured just before it: {Stats.Range(paired, "F3")} of the peak  (target ≥ 0.6)"));
        if (results.PyTorchStepsPerCpuSecond is { } py)
            Console.WriteLine(string.Create(c, $"  PyTorch (from benchmark 2, same FLOPs): {py:F0} steps per CPU-second = {py * flops / 1e9 / peak:F3} of this peak"));
        var (bytes, gen0) = await plain.AllocationAsync(s.Window);
        Console.WriteLine(string.Create(c, $"  .NET side of the plain loop: {bytes / 1024:F1} KiB allocated per step, {gen0:F1} gen-0 collections per 1,000 steps ({(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC)"));
    }

    /// <summary>GFLOP per CPU-second of this thread for <paramref name="repeats"/> products [m,k]×[k,n] (after one untimed).</summary>
    public static double MatmulGflops(int m, int k, int n, int repeats)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var a = randn(m, k);
        var b = randn(k, n);
        mm(a, b);
        double cpu = CpuClock.Thread();
        for (int i = 0; i < repeats; i++) a.matmul(b).Dispose();
        return 2.0 * m * k * n * repeats / (CpuClock.Thread() - cpu) / 1e9;
    }
}

/// <summary>4. Many members training at once on one embedded silo: member-steps per second.</summary>
internal static class ManyMembers
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        int threads = Environment.ProcessorCount;
        Console.WriteLine($"4. many members on one embedded silo ({threads} compute threads of one intra-op thread): member-steps per second");
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
        Reports.SamplesPlot.UseSansFont(plot);
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
        Reports.SamplesPlot.Save(plot, path, 800, 500);
        Console.WriteLine($"  scaling curve: {path}");
    }

    private static async Task<long> TotalAsync(ICoordinatorGrain[] members) =>
        (await Task.WhenAll(members.Select(m => m.GetStatusAsync().AsTask()))).Sum(x => x.Step);
}

/// <summary>5. Moving a DCGAN-sized state (weights and Adam state of G and D) between grains, silos and the store.</summary>
internal static class StateTransfer
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"5. state transfer: a DCGAN member's state ({Path.GetFileName(s.DcganSpecPath)}: G and D weights, Adam state, RNG states)");
        var spec = Members.Untimed(SpecLoader.LoadFile(s.DcganSpecPath)) with { Device = "cpu" };
        int repeats = s.Quick ? 3 : 8;
        await using (var one = await EmbeddedSilo.StartAsync(computeThreads: 1))
        {
            await MeasureAsync(one.Connection.Client, spec, repeats, "one silo", null);
        }
        TwoSilos? two = null;
        try { two = await TwoSilos.StartAsync(s.SiloDll, computeThreads: 1); }
        catch (Exception e) when (e is FileNotFoundException or InvalidOperationException or TimeoutException)
        {
            Console.WriteLine($"  two silos: not measured: {e.Message}");
        }
        if (two is not null)
        {
            await using (two)
                await MeasureAsync(two.Connection.Client, spec, repeats, "two silos", (two.First, two.Second));
        }
    }

    private static async Task MeasureAsync(IClusterClient client, GanSpec spec, int repeats, string where, (SiloAddress A, SiloAddress B)? silos)
    {
        var c = CultureInfo.InvariantCulture;
        string donor = Members.NewId("donor"), recipient = Members.NewId("recipient");
        if (silos is { } p)
        {
            await Members.PlaceWorkersAsync(client, donor, p.A, p.A);
            await Members.PlaceWorkersAsync(client, recipient, p.B, p.B);
        }
        var donorG = client.GetGrain<IGeneratorWorkerGrain>(donor);
        var donorD = client.GetGrain<IDiscriminatorWorkerGrain>(donor);
        var recipientG = client.GetGrain<IGeneratorWorkerGrain>(recipient);
        var recipientD = client.GetGrain<IDiscriminatorWorkerGrain>(recipient);
        await donorG.PrepareAsync(new WorkerSetup(donor, spec, null));
        await donorD.PrepareAsync(new WorkerSetup(donor, spec, null));
        var writes = new List<double>();
        var reads = new List<double>();
        var copies = new List<double>();
        var calls = new List<double>();
        long bytes = 0, weightBytes = 0;
        for (int r = 0; r < repeats; r++)
        {
            // Checkpoint: serialise on the compute thread, write atomically, hash.
            var clock = Stopwatch.StartNew();
            var g = await donorG.CheckpointAsync(0);
            var d = await donorD.CheckpointAsync(0);
            double write = clock.Elapsed.TotalSeconds;
            bytes = g.Bytes + d.Bytes;
            // Restore into another member's workers (on the other silo when there are two): read, verify, build, load.
            clock.Restart();
            await recipientG.PrepareAsync(new WorkerSetup(recipient, spec, g));
            await recipientD.PrepareAsync(new WorkerSetup(recipient, spec, d));
            double read = clock.Elapsed.TotalSeconds;
            writes.Add(bytes / write / 1e6);
            reads.Add(bytes / read / 1e6);
            copies.Add(bytes / (write + read) / 1e6);
            // The grain-call transport alone: the recipient's weights to this client (remote from the second silo).
            clock.Restart();
            var wg = await recipientG.ExportWeightsAsync();
            var wd = await recipientD.ExportWeightsAsync();
            weightBytes = wg.LongLength + wd.LongLength;
            calls.Add(weightBytes / clock.Elapsed.TotalSeconds / 1e6);
        }
        Console.WriteLine(string.Create(c, $"  {where}: state {bytes / 1e6:F2} MB (weights {weightBytes / 1e6:F2} MB); median of {repeats} (MB/s):"));
        Console.WriteLine($"    checkpoint write (serialise + atomic file + SHA-256):        {Stats.Range(writes)}");
        Console.WriteLine($"    checkpoint read into {(silos is null ? "another member" : "a member on the other silo")} (read + verify + build + load): {Stats.Range(reads)}");
        Console.WriteLine($"    grain to grain through the store (PBT exploit path):        {Stats.Range(copies)}");
        Console.WriteLine($"    weights only, ExportWeights (serialise + grain call){(silos is null ? " in process" : " from the second silo")}: {Stats.Range(calls)}");
        await Task.WhenAll(donorG.ReleaseAsync().AsTask(), donorD.ReleaseAsync().AsTask(), recipientG.ReleaseAsync().AsTask(), recipientD.ReleaseAsync().AsTask());
    }
}

/// <summary>6. Memory: resident memory and live tensors over a long member and over a sweep of short members.</summary>
internal static class MemoryGrowth
{
    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        long steps = s.MemorySteps;
        Console.WriteLine($"6. memory: VmRSS of this process (embedded silo) and live TorchSharp tensors on the compute thread (all work on it: Gan:Compute:RunInline off, since TorchSharp counts tensors per thread)");
        Console.WriteLine($"  ({ProcessMemory.Legend})");
        await using var silo = await EmbeddedSilo.StartAsync(computeThreads: 1, runInline: false);
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
        var (trimmed, trimSeconds) = await compute.RunAsync(() =>
        {
            var watch = Stopwatch.StartNew();
            return (NativeHeap.Trim(), watch.Elapsed.TotalSeconds);
        });
        var after = ProcessMemory.Sample();
        if (trimmed)
            Console.WriteLine(string.Create(c, $"    malloc_trim(0) at the end ({trimSeconds * 1e3:F1} ms) gives back {before.RssMiB - after.RssMiB:F1} MiB of VmRSS ({before.RssMiB:F1} → {after.RssMiB:F1}; malloc free {before.MallocFreeMiB:F1} → {after.MallocFreeMiB:F1} MiB)"));

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
