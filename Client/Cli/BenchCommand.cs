using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using GanCluster.Gan.Data;
using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Training;
using GanCluster.Gan.Specs;
using Microsoft.Extensions.Configuration;
using static TorchSharp.torch;

namespace GanCluster.Client.Cli;

/// <summary>
/// <c>bench SPEC</c>: steps per second of the plain single-process loop (the yardstick) and of one member trained
/// through the embedded silo's grains, side by side in one run, one intra-op thread each.
/// </summary>
public static class BenchCommand
{
    public static async Task<int> ExecuteAsync(CommandLine line)
    {
        line.AllowOnly("--set", "--steps", "--warmup", "--repeats");
        if (line.Arguments.Count != 1) throw new UsageException("bench needs exactly one SPEC file");
        long steps = ParseLong(line.Option("--steps") ?? "2000", "--steps");
        long warmup = ParseLong(line.Option("--warmup") ?? "200", "--warmup");
        int repeats = (int)ParseLong(line.Option("--repeats") ?? "3", "--repeats");
        // No evaluation or checkpoint inside the timed window: this measures the schedule itself.
        var spec = SpecFile.Load(line.Arguments[0], [.. line.All("--set"), $"training.steps={steps + warmup}",
            $"evaluation.every={steps + warmup}", $"checkpoint.every={steps + warmup}", "evaluation.samples=100", "evaluation.minSamplesPerMode=1"]);
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}"));
        Console.WriteLine(string.Create(c, $"model: {spec.Name}, batch {spec.Training.BatchSize}, G {spec.Model.Generator.Width}x{spec.Model.Generator.Depth}, D {spec.Model.Discriminator.Width}x{spec.Model.Discriminator.Depth}, k={spec.Training.DStepsPerGStep}; {steps} timed steps after {warmup} warm-up, best of {repeats}; 1 intra-op thread"));

        var plain = new List<double>();
        var cluster = new List<double>();
        using var data = new TempDir();
        await using var connection = await ClusterConnection.StartEmbeddedAsync(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Gan:DataDirectory"] = data.Path, ["Gan:Compute:Threads"] = "1" }).Build(),
            Path.Combine(data.Path, "silo.log"), CancellationToken.None);
        for (int r = 0; r < repeats; r++)
        {
            plain.Add(await Task.Factory.StartNew(() => PlainLoop(spec, steps, warmup), TaskCreationOptions.LongRunning));
            cluster.Add(await ClusterMemberAsync(connection, spec with { Seed = spec.Seed + r }, $"bench-{r}", steps, warmup));
            Console.WriteLine(string.Create(c, $"  round {r + 1}: plain loop {plain[^1]:F1} steps/s, cluster (one silo) {cluster[^1]:F1} steps/s"));
        }
        double p = plain.Max(), q = cluster.Max();
        Console.WriteLine(string.Create(c, $"plain TorchSharp loop: {p:F1} steps/s"));
        Console.WriteLine(string.Create(c, $"cluster, alternating mode, one silo: {q:F1} steps/s = {q / p:F3} of the plain loop"));
        return ExitCodes.Ok;
    }

    /// <summary>The yardstick, on a thread of its own with one intra-op thread, as a worker's compute thread has.</summary>
    private static double PlainLoop(GanSpec spec, long steps, long warmup)
    {
        set_num_threads(1);
        using var loop = new ReferenceLoop(spec);
        loop.Run(warmup);
        var clock = Stopwatch.StartNew();
        loop.Run(steps);
        return steps / clock.Elapsed.TotalSeconds;
    }

    /// <summary>One member through the grains; timed from the status stream between the warm-up and the end.</summary>
    private static async Task<double> ClusterMemberAsync(ClusterConnection connection, GanSpec spec, string id, long steps, long warmup)
    {
        var member = connection.Client.GetGrain<ICoordinatorGrain>($"{id}-{Guid.NewGuid():N}"[..40]);
        await member.StartAsync(spec);
        MemberStatus status;
        do { await Task.Delay(5); status = await member.GetStatusAsync(); } while (status.Step < warmup && !status.State.IsFinished());
        long from = status.Step;
        var clock = Stopwatch.StartNew();
        do { await Task.Delay(20); status = await member.GetStatusAsync(); } while (!status.State.IsFinished());
        if (status.State != MemberState.Completed) throw new InvalidOperationException($"bench member ended {status.State}: {status.Error}");
        return (status.Step - from) / clock.Elapsed.TotalSeconds;
    }

    private static long ParseLong(string text, string option) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v > 0
            ? v : throw new UsageException($"{option}: expected a positive whole number, got '{text}'");

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("gancluster-bench-").FullName;
        public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
    }
}
