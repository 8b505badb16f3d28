using System.Globalization;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Training;
using GanCluster.Gan.Training.Packed;
using Microsoft.Extensions.Options;
using GanCluster.Grains.Compute;

namespace GanCluster.Client.Cli.Bench;

/// <summary>
/// 7. Packed members: K members of the ring-of-8 GAN (different seeds and learning rates, as in a sweep) trained one
/// after another by K plain loops on one thread (what a compute thread does with K members today, without Orleans),
/// against the same K members packed into one batched network (<see cref="PackedMlpGan"/>) on the same thread.
/// Member-steps per CPU-second of the thread, A and B alternating in rounds.
/// </summary>
internal static class PackedMembers
{
    public static readonly int[] Sizes = [1, 4, 16, 64];

    public static async Task RunAsync(BenchSettings s, BenchResults results)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine("7. packed members: K members one after another (K plain loops) against one packed network of K members, one thread, member-steps per CPU-second");
        using var thread = new TorchCompute(Options.Create(new ComputeOptions { Threads = 1, IntraOpThreads = 1, RunInline = false }));
        double peak = await thread.RunAsync(() => Roofline.MatmulGflops(1024, 1024, 1024, 10));
        Console.WriteLine(string.Create(c, $"  one-thread torch.mm 1024² {peak:F1} GFLOP per CPU-second"));
        // The spec's batch, and a small batch where per-operator costs weigh more.
        foreach (int batch in new[] { s.Spec.Training.BatchSize, SmallBatch }.Distinct())
            await RunBatchAsync(s, thread, s.Spec with { Training = s.Spec.Training with { BatchSize = batch } }, peak);
    }

    private const int SmallBatch = 64;

    private static async Task RunBatchAsync(BenchSettings s, TorchCompute thread, GanSpec spec, double peak)
    {
        var c = CultureInfo.InvariantCulture;
        double flops = await thread.RunAsync(() =>
        {
            using var probe = new ReferenceLoop(spec);
            return StepFlops.PerStep(probe);
        });
        Console.WriteLine(string.Create(c, $"  batch {spec.Training.BatchSize} ({flops / 1e6:F1} MFLOP per member-step): K | separate loops | packed | packed / separate | packed roofline (of the mm peak)"));
        foreach (int k in Sizes)
        {
            var members = Enumerable.Range(0, k).Select(i => Member(spec, i)).ToArray();
            // Windows of equal work: the spec's window of 512-row steps, in member-steps of this batch.
            int steps = Math.Max(s.Window * 512 / spec.Training.BatchSize / k, s.Quick ? 8 : 16);
            var separate = new List<double>();
            var packed = new List<double>();
            var ratios = new List<double>();
            await thread.RunAsync(() =>
            {
                var loops = members.Select(m => new ReferenceLoop(m)).ToArray();
                using var pack = new PackedMlpGan(members);
                try
                {
                    RunSeparate(loops, Math.Max(2, s.Warmup / k));
                    RunPacked(pack, Math.Max(2, s.Warmup / k));
                    for (int r = 0; r < s.Rounds; r++)
                    {
                        double a = k * steps / Timed(() => RunSeparate(loops, steps));
                        double b = k * steps / Timed(() => RunPacked(pack, steps));
                        separate.Add(a);
                        packed.Add(b);
                        ratios.Add(b / a);
                    }
                }
                finally
                {
                    foreach (var l in loops) l.Dispose();
                }
            });
            double rate = Stats.Median(packed);
            Console.WriteLine(string.Create(c, $"    {k,2} | {Stats.Median(separate),6:F0} | {rate,6:F0} | {Stats.Range(ratios, "F2")} | {rate * flops / 1e9 / peak:F3}"));
        }
    }

    /// <summary>Member <paramref name="index"/> of a sweep over the learning rates (log-uniform 1e-4…3e-3, fixed per index).</summary>
    public static GanSpec Member(GanSpec spec, int index)
    {
        double u = (index * 0.618033988749895) % 1.0;
        double lr = Math.Exp(Math.Log(1e-4) + u * (Math.Log(3e-3) - Math.Log(1e-4)));
        return spec with
        {
            Name = $"{spec.Name}-{index}",
            Seed = spec.Seed + index,
            Optimizer = spec.Optimizer with { GeneratorLr = lr, DiscriminatorLr = lr },
        };
    }

    private static void RunSeparate(ReferenceLoop[] loops, int steps)
    {
        for (int i = 0; i < steps; i++)
            foreach (var loop in loops) loop.Step();
    }

    private static void RunPacked(PackedMlpGan pack, int steps)
    {
        for (int i = 0; i < steps; i++) pack.TrainStep();
    }

    private static double Timed(Action work)
    {
        double cpu = CpuClock.Thread();
        work();
        return CpuClock.Thread() - cpu;
    }
}
