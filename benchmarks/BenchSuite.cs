using GanCluster.Gan.Data;
using GanCluster.Client.Cli;
using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using GanCluster.Gan.Specs;
using static TorchSharp.torch;

namespace GanCluster.Benchmarks;

/// <summary>
/// <c>bench --suite all|NAME[,NAME...] [--quick]</c>: the performance suite of the performance issue. Every figure
/// that is compared with another is measured side by side in one run, alternating A and B in rounds, and reported
/// as the median of the per-round ratios (robust to a machine whose load changes during the run).
/// </summary>
public static class BenchSuite
{
    public static readonly string[] Names = ["gan", "pytorch", "members", "memory"];

    /// <summary>The suite's command line, parsed by System.CommandLine (<see cref="CliSyntax"/>).</summary>
    public static System.CommandLine.RootCommand Syntax { get; } = BuildSyntax();

    private static System.CommandLine.RootCommand BuildSyntax()
    {
        var root = CliSyntax.Root("GanCluster.Benchmarks", "The performance suite: the cluster against the plain TorchSharp loop and PyTorch.");
        foreach (var option in new[]
        {
            CliSyntax.Value("--suite", "all|NAME[,NAME...]", $"which benchmarks: all, or some of {string.Join(", ", Names)}", ["all", .. Names]),
            CliSyntax.Flag("--quick", "shorter windows and fewer rounds"),
            CliSyntax.Value("--spec", "FILE", "the mixture GAN (default examples/ring8.json)"),
            CliSyntax.Value("--dcgan", "FILE", "the image GAN (default examples/digits-dcgan.json)"),
            CliSyntax.Value("--python", "PATH", "the Python with PyTorch (default /usr/bin/python3)"),
            CliSyntax.Value("--silo-dll", "PATH", "the silo program for the multi-silo benchmarks"),
            CliSyntax.Value("--rounds", "N", "rounds (default 7, 3 with --quick)"),
            CliSyntax.Value("--steps", "N", "timed steps per round (default 2000, 500 with --quick)"),
            CliSyntax.Value("--dcgan-steps", "N", "timed DCGAN steps per round (default 120, 30 with --quick)"),
            CliSyntax.Value("--workloads", "LIST", "ring, dcgan or both (default ring,dcgan)"),
            CliSyntax.Value("--out", "DIR", "where the results go"),
            CliSyntax.Value("--memory-steps", "N", "steps of the memory benchmark's long member (default 100000, 5000 with --quick)"),
            CliSyntax.Value("--memory-waves", "N", "waves of members in the memory benchmark (default 8)"),
        })
            root.Add(option);
        return root;
    }

    public static async Task<int> ExecuteAsync(CommandLine line)
    {
        line.AllowOnly("--suite", "--quick", "--spec", "--dcgan", "--python", "--silo-dll", "--rounds", "--steps", "--dcgan-steps", "--workloads", "--out", "--memory-steps", "--memory-waves");
        if (line.Arguments.Count != 0) throw new UsageException("bench --suite takes no SPEC (use --spec FILE to change the GAN)");
        string suite = line.Option("--suite")!;
        var chosen = suite == "all" ? Names : suite.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var name in chosen)
            if (!Names.Contains(name) && name is not ("plain" or "member" or "silos")) throw new UsageException($"--suite: unknown benchmark '{name}' (all, {string.Join(", ", Names)})");
        bool quick = line.Option("--quick") is not null;
        string root = RepositoryRoot();
        var settings = new BenchSettings
        {
            Quick = quick,
            Root = root,
            Spec = Load(line.Option("--spec") ?? Path.Combine(root, "examples", "ring8.json"), "--spec"),
            Dcgan = Load(line.Option("--dcgan") ?? Path.Combine(root, "examples", "digits-dcgan.json"), "--dcgan"),
            DcganWindow = line.Option("--dcgan-steps") is { } ds ? PositiveInt(ds, "--dcgan-steps") : quick ? 30 : 120,
            WorkloadNames = Workloads(line.Option("--workloads") ?? "ring,dcgan"),
            Python = line.Option("--python") ?? "/usr/bin/python3",
            PythonScript = Path.Combine(root, "benchmarks", "pytorch_gan.py"),
            SiloDll = line.Option("--silo-dll") ?? FindSiloDll(root),
            Rounds = line.Option("--rounds") is { } r ? PositiveInt(r, "--rounds") : quick ? 3 : 7,
            Window = line.Option("--steps") is { } s ? PositiveInt(s, "--steps") : quick ? 500 : 2000,
            Warmup = quick ? 200 : 400,
            OutDirectory = line.Option("--out"),
            MemorySteps = line.Option("--memory-steps") is { } ms ? PositiveInt(ms, "--memory-steps") : quick ? 5_000 : 100_000,
            MemoryWaves = line.Option("--memory-waves") is { } mw ? NonNegativeInt(mw, "--memory-waves") : 8,
        };
        PrintHeader(settings, chosen);
        var results = new BenchResults();
        var clock = Stopwatch.StartNew();
        foreach (var name in chosen)
        {
            Console.WriteLine();
            var started = clock.Elapsed;
            switch (name)
            {
                case "plain": await PlainOnly.RunAsync(settings); break;
                case "member": await PlainOnly.RunMemberAsync(settings); break;
                case "silos": await PlainOnly.RunTwoSilosAsync(settings); break;
                case "gan": await GanThroughput.RunAsync(settings, results); break;
                case "pytorch": await PyTorchComparison.RunAsync(settings, results); break;
                case "members": await ManyMembers.RunAsync(settings, results); break;
                case "memory": await MemoryGrowth.RunAsync(settings, results); break;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ({name}: {(clock.Elapsed - started).TotalSeconds:F0} s)"));
        }
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"suite finished in {clock.Elapsed.TotalMinutes:F1} min"));
        return ExitCodes.Ok;
    }

    private static string[] Workloads(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var n in names)
            if (n is not ("ring" or "dcgan")) throw new UsageException($"--workloads: unknown workload '{n}' (ring, dcgan)");
        return names.Length > 0 ? names : throw new UsageException("--workloads: name at least one of ring, dcgan");
    }

    private static GanSpec Load(string path, string option)
    {
        if (!File.Exists(path)) throw new UsageException($"{option}: no file '{path}'");
        return SpecFile.Load(path);
    }

    private static void PrintHeader(BenchSettings s, IReadOnlyList<string> chosen)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"GanCluster benchmark suite: {string.Join(", ", chosen)}{(s.Quick ? " (quick)" : "")}");
        Console.WriteLine(string.Create(c, $"machine: {CpuModel()}, {Environment.ProcessorCount} cores, {MemoryGiB():F0} GiB, {RuntimeInformation.OSDescription}, load average {LoadAverage()}"));
        Console.WriteLine($"versions: .NET {Environment.Version}, TorchSharp {PackageVersion(typeof(TorchSharp.torch))}, libtorch {LibTorchVersion()}, Orleans {PackageVersion(typeof(Orleans.IGrain))}");
        Console.WriteLine($"CPU kernels: {Gan.Compute.CpuKernels.EnsureConfigured()}");
        Console.WriteLine($"threads: compute threads of one intra-op thread (torch.set_num_threads(1)) everywhere; GC {(GCSettings.IsServerGC ? "server" : "workstation")}, {(GCSettings.LatencyMode)}; "
            + $"DOTNET_gcServer={Env("DOTNET_gcServer")}, OMP_NUM_THREADS={Env("OMP_NUM_THREADS")}, MKL_NUM_THREADS={Env("MKL_NUM_THREADS")}");
        foreach (var w in s.Workloads)
            Console.WriteLine(string.Create(c, $"GAN {w.Name}: {w.Spec.Name}, {w.Spec.Model.Architecture}, G width {w.Spec.Model.Generator.Width}, D width {w.Spec.Model.Discriminator.Width}, batch {w.Spec.Training.BatchSize}, k={w.Spec.Training.DStepsPerGStep}; windows of {w.Window} steps after {w.Warmup}"));
        Console.WriteLine(string.Create(c, $"method: {s.Rounds} rounds alternating A/B, windows of {s.Window} steps after {s.Warmup} warm-up steps; ratios are medians of per-round ratios"));
    }

    private static string PackageVersion(Type type)
    {
        var attribute = (System.Reflection.AssemblyInformationalVersionAttribute?)Attribute.GetCustomAttribute(type.Assembly, typeof(System.Reflection.AssemblyInformationalVersionAttribute));
        string version = attribute?.InformationalVersion ?? type.Assembly.GetName().Version?.ToString() ?? "?";
        int end = version.IndexOfAny(['+', ' ']);
        return end < 0 ? version : version[..end].TrimEnd('.');
    }

    private static string Env(string name) => Environment.GetEnvironmentVariable(name) ?? "unset";

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            string model = line?.Split(':', 2)[1].Trim() ?? "unknown CPU";
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
            return model + (flags.Contains(" avx512f", StringComparison.Ordinal) ? " (AVX-512)" : flags.Contains(" avx2", StringComparison.Ordinal) ? " (AVX2)" : "");
        }
        catch (IOException) { return RuntimeInformation.ProcessArchitecture.ToString(); }
    }

    private static double MemoryGiB() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }

    private static string LibTorchVersion()
    {
        // The native package's version is the folder name of its NuGet package; the build copies no version file.
        var dir = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location)!;
        var deps = Directory.GetFiles(dir, "*.deps.json").FirstOrDefault();
        if (deps is null) return "?";
        var text = File.ReadAllText(deps);
        int at = text.IndexOf("\"libtorch-cpu-linux-x64/", StringComparison.Ordinal);
        return at < 0 ? "?" : text[(at + 24)..text.IndexOf('"', at + 24)];
    }

    private static string RepositoryRoot() => Gan.Data.RepositoryRoot.Find()
        ?? throw new UsageException("the benchmark suite runs from the repository (it needs examples/ and benchmarks/): no GanCluster.sln above the working directory");

    private static string FindSiloDll(string root)
    {
        foreach (var config in new[] { "Release", "Debug" })
        {
            string path = Path.Combine(root, "Silo", "bin", config, "net10.0", "linux-x64", "GanCluster.Silo.dll");
            if (File.Exists(path)) return path;
            path = Path.Combine(root, "Silo", "bin", config, "net10.0", "GanCluster.Silo.dll");
            if (File.Exists(path)) return path;
        }
        return "";
    }

    private static int NonNegativeInt(string text, string option) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0
            ? v : throw new UsageException($"{option}: expected a whole number, 0 or more, got '{text}'");

    private static int PositiveInt(string text, string option) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new UsageException($"{option}: expected a positive whole number, got '{text}'");
}

public sealed class BenchSettings
{
    public required bool Quick { get; init; }
    public required string Root { get; init; }
    /// <summary>The ring MLP (examples/ring8.json, or --spec).</summary>
    public required GanSpec Spec { get; init; }
    /// <summary>The DCGAN digits example (examples/digits-dcgan.json, or --dcgan).</summary>
    public required GanSpec Dcgan { get; init; }
    public required int DcganWindow { get; init; }
    /// <summary>--workloads: which of ring and dcgan the speed benchmarks run (both by default).</summary>
    public required string[] WorkloadNames { get; init; }
    /// <summary>The workloads the speed benchmarks measure, with the targets of the cluster against the plain loop.</summary>
    public IReadOnlyList<Workload> Workloads =>
    [
        .. new Workload[]
        {
            new("ring", Spec, Window, Warmup, 0.85, 0.70),
            new("dcgan", Dcgan, DcganWindow, Math.Max(10, DcganWindow / 4), 0.95, 0.90),
        }.Where(w => WorkloadNames.Contains(w.Name)),
    ];
    public required string Python { get; init; }
    public required string PythonScript { get; init; }
    public required string SiloDll { get; init; }
    public required int Rounds { get; init; }
    public required int Window { get; init; }
    public required int Warmup { get; init; }
    /// <summary>Steps of the memory benchmark's long member (--memory-steps; 100,000, or 5,000 with --quick).</summary>
    public required long MemorySteps { get; init; }
    /// <summary>Waves of 8 short members in the memory benchmark (--memory-waves; 8, and 0 skips the sweep).</summary>
    public required int MemoryWaves { get; init; }
    /// <summary>Where pictures go (the members' scaling curve); none without --out.</summary>
    public string? OutDirectory { get; init; }
}

/// <summary>Figures one benchmark passes to a later one (none at present).</summary>
public sealed class BenchResults;

/// <summary>One GAN the speed benchmarks run, with its timing windows and the cluster's targets against the plain loop.</summary>
public sealed record Workload(string Name, GanSpec Spec, int Window, int Warmup, double OneSiloTarget, double TwoSiloTarget);

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static string Range(IReadOnlyCollection<double> values, string format = "F1") =>
        values.Count == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{Median(values).ToString(format, CultureInfo.InvariantCulture)} (range {values.Min().ToString(format, CultureInfo.InvariantCulture)}–{values.Max().ToString(format, CultureInfo.InvariantCulture)})");
}
