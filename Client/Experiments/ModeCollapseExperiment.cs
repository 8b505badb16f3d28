using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GanCluster.Client.Cli;
using GanCluster.Client.Hosting;
using GanCluster.Client.Reports;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Gan.Data;
using Microsoft.Extensions.Configuration;

namespace GanCluster.Client.Experiments;

/// <summary>
/// <c>experiment mode-collapse</c>: the ring of 8 and the grid of 25 in the PacGAN setup, trained through the cluster
/// (members concurrently) under each technique and several seeds; writes a PacGAN-Table-1-style markdown table and
/// one panel of sample scatters per data set.
/// </summary>
public static class ModeCollapseExperiment
{
    /// <summary>A technique: spec overrides applied to the data set's base spec (examples/ring8.json, grid25.json).</summary>
    public sealed record Technique(string Name, string[] Overrides);

    // Before Techniques, which uses it (static fields initialise in order).
    /// <summary>The shipped recipe as overrides of the example specs (the fields examples/grid25-recipe.json changes).</summary>
    public static readonly string[] Recipe =
    [
        "model.generator.width=256", "model.generator.depth=3", "model.generator.normalization=batch",
        "model.discriminator.width=256", "model.discriminator.depth=3", "model.discriminator.activation=leaky_relu",
        "loss.kind=hinge", "loss.r1=0.1", "optimizer.generatorLr=0.0005", "optimizer.discriminatorLr=0.0003", "optimizer.lrDecay=linear", "techniques.generatorEma=0.999",
    ];

    public static readonly Technique[] Techniques =
    [
        new("minimax", ["loss.generator=minimax"]),
        new("non-saturating", ["loss.generator=non_saturating"]),
        new("+ label smoothing (α = 0.1)", ["loss.realSmoothing=0.1"]),
        new("+ minibatch discrimination", ["techniques.minibatchDiscrimination.kernels=5", "techniques.minibatchDiscrimination.kernelDim=3"]),
        new("+ feature matching", ["techniques.featureMatching=true"]),
        new("+ unrolled (k = 5)", ["techniques.unrolledSteps=5"]),
        new("+ D steps (k = 3 per G step)", ["training.dStepsPerGStep=3"]),
        new("+ packing (m = 4, PacGAN4)", ["techniques.packing=4"]),
        new("+ spectral norm on D", ["techniques.spectralNorm=true"]),
        new("+ EMA of G (0.999)", ["techniques.generatorEma=0.999"]),
        new("+ R1 penalty (γ = 0.1)", ["loss.r1=0.1"]),
        new("recipe (docs/training.md#recipes)", Recipe),
    ];

    /// <summary>
    /// PacGAN's Table 1 (Lin et al. 2018; 10 trials, 400,000 steps, their networks): modes by VEEGAN's rule (one
    /// high-quality sample), high quality %, reverse KL. Shown beside ours for reference; not rerun here.
    /// </summary>
    public static readonly (string DataSet, string Row, string Modes, string HighQuality, string ReverseKl)[] Anchors =
    [
        ("ring of 8", "PacGAN2 (paper)", "7.9 ± 0.1", "95.6", "0.07"),
        ("ring of 8", "PacGAN4 (paper)", "7.8 ± 0.1", "95.9", "0.07"),
        ("grid of 25", "GAN (paper)", "17.3 ± 0.8", "94.2", "0.70"),
        ("grid of 25", "PacGAN4 (paper)", "24.8 ± 0.2", "93.6", "0.04"),
    ];

    public sealed record DataSet(string Name, string SpecFile, long Steps);

    public sealed record Result(string DataSet, string Technique, long Seed, string MemberId, MemberState State, MixtureMetrics? Metrics, double Seconds);

    public static async Task<int> ExecuteAsync(CommandLine line)
    {
        line.AllowOnly("--seeds", "--batch", "--parts", "--image-steps", "--out", "--ring-steps", "--grid-steps", "--concurrency", "--only", "--examples", "--data");
        int seeds = Positive(line.Option("--seeds") ?? "3", "--seeds");
        int batch = Positive(line.Option("--batch") ?? "256", "--batch");
        int concurrency = Positive(line.Option("--concurrency") ?? Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), "--concurrency");
        string examples = line.Option("--examples") ?? "examples";
        // One id for the whole run: its folder and its members' ids (mc-<that id>-…) cannot collide with another run's.
        string runId = DefaultId.For("mode-collapse");
        string outDir = OutputFolder.Check(line.Option("--out") ?? Path.Combine("runs", runId));
        var dataSets = new[]
        {
            new DataSet("ring of 8", Path.Combine(examples, "ring8.json"), Positive(line.Option("--ring-steps") ?? "5000", "--ring-steps")),
            new DataSet("grid of 25", Path.Combine(examples, "grid25.json"), Positive(line.Option("--grid-steps") ?? "10000", "--grid-steps")),
        };
        var techniques = line.Option("--only") is { } only
            ? Techniques.Where(t => only.Split(',').Any(o => t.Name.Contains(o.Trim(), StringComparison.OrdinalIgnoreCase))).ToArray()
            : Techniques;
        if (techniques.Length == 0) throw new UsageException($"--only: no technique matches '{line.Option("--only")}'");
        var parts = (line.Option("--parts") ?? "mixtures,images").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts.Any(p => p is not ("mixtures" or "images"))) throw new UsageException("--parts: a comma-separated list of mixtures, images");
        bool runMixtures = parts.Contains("mixtures"), runImages = parts.Contains("images");
        int imageSteps = Positive(line.Option("--image-steps") ?? "2000", "--image-steps");
        if (!runMixtures) dataSets = [];

        // Every spec is built and validated before anything starts.
        string stamp = runId["mode-collapse-".Length..];
        var jobs = new List<(DataSet Data, Technique Technique, long Seed, GanSpec Spec, string MemberId)>();
        foreach (var d in dataSets)
            foreach (var t in techniques)
                for (int s = 1; s <= seeds; s++)
                {
                    var spec = SpecFile.Load(d.SpecFile, [.. t.Overrides, $"seed={s}", $"training.steps={d.Steps}", $"training.batchSize={batch}",
                        $"evaluation.every={d.Steps}", $"checkpoint.every={d.Steps}", "evaluation.samples=2500"]);
                    string id = $"mc-{stamp}-{spec.Name}-{Array.IndexOf(Techniques, t)}-s{s}";
                    jobs.Add((d, t, s, spec, id));
                }
        var imageJobs = new List<(string Name, GanSpec Spec, string MemberId)>();
        if (runImages)
            foreach (var (name, file) in new[] { ("DCGAN", "digits-dcgan.json"), ("conditional DCGAN", "digits-cdcgan.json") })
            {
                var spec = SpecFile.Load(Path.Combine(examples, file), [$"training.steps={imageSteps}", $"evaluation.every={imageSteps}",
                    $"checkpoint.every={imageSteps}", "evaluation.samples=2000"]);
                imageJobs.Add((name, spec, $"mc-{stamp}-{spec.Name}"));
            }
        Directory.CreateDirectory(outDir);
        Console.WriteLine($"mode-collapse experiment: {jobs.Count} members ({techniques.Length} techniques × {seeds} seeds × {dataSets.Length} data sets), {concurrency} at a time, on the embedded silo");
        Console.WriteLine($"output: {outDir}");

        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = line.Option("--data") ?? Path.Combine(outDir, "data"),
        }).Build();
        await using var cluster = await ClusterConnection.StartEmbeddedAsync(config, Path.Combine(outDir, "silo.log"), CancellationToken.None);

        var clock = Stopwatch.StartNew();
        var results = new List<Result>();
        var reports = new Dictionary<string, MemberReport>();
        using var gate = new SemaphoreSlim(concurrency);
        int done = 0;
        var tasks = jobs.Select(async job =>
        {
            await gate.WaitAsync();
            try
            {
                var started = clock.Elapsed;
                var member = cluster.Client.GetGrain<ICoordinatorGrain>(job.MemberId);
                await member.StartAsync(job.Spec);
                MemberStatus status;
                // A batch job: one status call a second per running member is no load.
                do { await Task.Delay(1000); status = await member.GetStatusAsync(); } while (!status.State.IsFinished());
                var report = await member.GetReportAsync();
                lock (results)
                {
                    results.Add(new Result(job.Data.Name, job.Technique.Name, job.Seed, job.MemberId, status.State, status.Evaluation, (clock.Elapsed - started).TotalSeconds));
                    reports[job.MemberId] = report;
                    done++;
                    var e = status.Evaluation;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"[{done}/{jobs.Count}] {clock.Elapsed:hh\\:mm\\:ss} {job.Data.Name} | {job.Technique.Name} | seed {job.Seed}: {status.State.ToString().ToLowerInvariant()}, modes {e?.ModesCovered}/{e?.ModesTotal} ({e?.ModesWithAnyHighQuality} by VEEGAN's rule), high quality {e?.HighQualityFraction:P1}, reverse KL {e?.ReverseKl:F3}"));
                }
            }
            finally { gate.Release(); }
        }).ToList();
        var imageResults = imageJobs.Select(async job =>
        {
            await gate.WaitAsync();
            try
            {
                var member = cluster.Client.GetGrain<ICoordinatorGrain>(job.MemberId);
                await member.StartAsync(job.Spec);
                MemberStatus status;
                do { await Task.Delay(1000); status = await member.GetStatusAsync(); } while (!status.State.IsFinished());
                var e = status.ImageEvaluation;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{clock.Elapsed:hh\\:mm\\:ss} digits | {job.Name}: {status.State.ToString().ToLowerInvariant()}, classes {e?.ClassesCovered}/{e?.ClassCount}, Fréchet distance {e?.FrechetDistance:F1}"));
                return (job.Name, job.Spec, Report: await member.GetReportAsync());
            }
            finally { gate.Release(); }
        }).ToList();
        await Task.WhenAll(tasks);
        var images = await Task.WhenAll(imageResults);

        string command = "dotnet run --project Client -c Release -- experiment mode-collapse " + string.Join(" ", line.Options
            .Where(o => o.Key is not ("--out" or "--data" or "--examples"))
            .SelectMany(o => o.Value.Select(v => $"{o.Key} {(v.Contains(' ') ? $"\"{v}\"" : v)}")));
        var markdown = new StringBuilder();
        if (runMixtures) markdown.Append(Table(results, techniques, dataSets, seeds, batch, command, clock.Elapsed));
        if (runImages) markdown.Append(ImageTable(images, command, clock.Elapsed));
        File.WriteAllText(Path.Combine(outDir, "results.md"), markdown.ToString());
        if (runImages)
        {
            var tiles = images.Select(i =>
            {
                var e = i.Report.Status.ImageEvaluation;
                string title = e is null ? i.Name : string.Create(CultureInfo.InvariantCulture, $"{i.Name}: {e.ClassesCovered}/10 classes, FD {e.FrechetDistance:F1}");
                var rows = i.Report.Samples is { } t ? TensorMessage.FromFloats(t.ToFloats(), t.Shape[0], 784).ToRows() : [];
                return DigitGrid.Render(rows, 10, title, i.Spec.Techniques.Conditional);
            }).ToList();
            PanelImage.Write(Path.Combine(outDir, "digits-panel.png"), tiles, 2, $"shipped digits after {imageSteps} steps: DCGAN (left), conditional DCGAN, one row per class (right)");
        }
        File.WriteAllText(Path.Combine(outDir, "results.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        foreach (var d in dataSets)
        {
            var tiles = new List<byte[]>();
            foreach (var t in techniques)
            {
                var job = jobs.First(j => j.Data == d && j.Technique == t && j.Seed == 1);
                var report = reports[job.MemberId];
                var data = MixtureDataset.FromSpec(job.Spec.Data);
                var e = report.Status.Evaluation;
                string title = e is null ? t.Name : string.Create(CultureInfo.InvariantCulture, $"{t.Name}\n{e.ModesCovered}/{e.ModesTotal} modes, {e.HighQualityFraction:P0} HQ");
                var rows = report.Samples?.ToRows() ?? [];
                tiles.Add(SamplesPlot.Render2D(rows, data.ModeCenters, data.Std, title, 480, 480));
            }
            string file = d.Name.StartsWith("ring", StringComparison.Ordinal) ? "ring8-panel.png" : "grid25-panel.png";
            PanelImage.Write(Path.Combine(outDir, file), tiles, 4, $"{d.Name}, seed 1, after {d.Steps} steps: generated samples (blue) over the real modes (red)");
        }
        Console.WriteLine($"wrote {Path.Combine(outDir, "results.md")} and its panels in {clock.Elapsed:hh\\:mm\\:ss}");
        return results.All(r => r.State == MemberState.Completed) ? ExitCodes.Ok : ExitCodes.TrainingFailed;
    }

    /// <summary>PacGAN's Table 1 layout: modes (mean ± standard error over seeds), high-quality %, reverse KL.</summary>
    public static string Table(IReadOnlyList<Result> results, IReadOnlyList<Technique> techniques, IReadOnlyList<DataSet> dataSets, int seeds, int batch, string command, TimeSpan took)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Mode collapse on 2-D mixtures: what each technique does");
        sb.AppendLine();
        sb.AppendLine(string.Create(c, $"Made with `{command}` ({took:hh\\:mm\\:ss} on the development machine: 2 cores, CPU). Each cell: mean ± standard error over {seeds} seeds; high quality = samples within 3 std of their nearest mode; a mode is covered when it holds at least 20 high-quality samples of 2,500 (ours) or at least one (VEEGAN's and PacGAN's rule, their released code); reverse KL = KL(mode histogram of the samples ‖ uniform). Every technique is the non-saturating GAN of the example spec plus that technique; the recipe changes several fields at once (listed below). Rows in italics are PacGAN's Table 1 (10 trials, 400,000 steps, their larger networks), not rerun here."));
        sb.AppendLine();
        foreach (var d in dataSets)
        {
            var spec = SpecFile.Load(d.SpecFile);
            sb.AppendLine(string.Create(c, $"## {d.Name} ({d.Steps} steps, batch {batch}, G and D {spec.Model.Generator.Width}×{spec.Model.Generator.Depth} MLPs, Adam lr {spec.Optimizer.GeneratorLr} β₁ {spec.Optimizer.Beta1})"));
            sb.AppendLine();
            sb.AppendLine("| technique | modes (max " + MixtureDataset.FromSpec(spec.Data).ModeCount + ", ≥ 20) | modes (VEEGAN's rule) | high quality % | reverse KL | every mode on every seed | completed |");
            sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
            foreach (var a in Anchors.Where(a => a.DataSet == d.Name))
                sb.AppendLine($"| *{a.Row}* | | *{a.Modes}* | *{a.HighQuality}* | *{a.ReverseKl}* | | |");
            foreach (var t in techniques)
            {
                var rs = results.Where(r => r.DataSet == d.Name && r.Technique == t.Name).ToList();
                var ms = rs.Where(r => r.Metrics is not null).Select(r => r.Metrics!).ToList();
                string Cell(Func<MixtureMetrics, double> f, string format, double scale = 1) =>
                    ms.Count == 0 ? "–" : $"{(Mean(ms.Select(f)) * scale).ToString(format, c)} ± {(StandardError(ms.Select(f)) * scale).ToString(format, c)}";
                string everyMode = ms.Count == 0 ? "–" : $"{ms.Count(m => m.ModesCovered == m.ModesTotal)}/{ms.Count}";
                sb.AppendLine($"| {t.Name} | {Cell(m => m.ModesCovered, "F1")} | {Cell(m => m.ModesWithAnyHighQuality ?? double.NaN, "F1")} | {Cell(m => m.HighQualityFraction, "F1", 100)} | {Cell(m => m.ReverseKl, "F3")} | {everyMode} | {rs.Count(r => r.State == MemberState.Completed)}/{rs.Count} |");
            }
            sb.AppendLine();
        }
        sb.AppendLine("Overrides per technique (on top of `examples/ring8.json` / `examples/grid25.json`):");
        sb.AppendLine();
        foreach (var t in techniques) sb.AppendLine($"- {t.Name}: `{string.Join(" ", t.Overrides)}`");
        return sb.ToString();
    }

    public static string ImageTable(IEnumerable<(string Name, GanSpec Spec, MemberReport Report)> runs, string command, TimeSpan took)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("## Images: DCGAN and conditional DCGAN on the shipped digits");
        sb.AppendLine();
        sb.AppendLine(string.Create(c, $"Made with `{command}` ({took:hh\\:mm\\:ss}). The digit classifier (a small CNN trained on the shipped digits, cached) scores 2,000 generated images: a class is covered when at least 10 % of its uniform share is predicted as it; class KL = KL(predicted-class histogram ‖ uniform); confident = max softmax ≥ 0.9; Fréchet distance between the classifier's penultimate features of generated and of real digits (real held-out digits score about 6); label accuracy = images classified as the class they were generated for."));
        sb.AppendLine();
        sb.AppendLine("| model | steps | classes covered | class KL | confident % | Fréchet distance | label accuracy % | D(real) | D(fake) |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, spec, report) in runs)
        {
            var e = report.Status.ImageEvaluation;
            sb.AppendLine(e is null
                ? $"| {name} | {report.Status.Step} | {report.Status.State} | | | | | | |"
                : string.Create(c, $"| {name} | {report.Status.Step} | {e.ClassesCovered}/{e.ClassCount} | {e.ClassKl:F3} | {100 * e.ConfidentFraction:F1} | {e.FrechetDistance:F1} | {(e.LabelAccuracy is double a ? (100 * a).ToString("F1", c) : "–")} | {e.MeanDReal:F3} | {e.MeanDFake:F3} |"));
        }
        sb.AppendLine();
        return sb.ToString();
    }

    private static double Mean(IEnumerable<double> xs) => xs.Average();

    private static double StandardError(IEnumerable<double> xs)
    {
        var v = xs.ToArray();
        if (v.Length < 2) return 0;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1) / v.Length);
    }

    private static int Positive(string text, string option) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new UsageException($"{option}: expected a positive whole number, got '{text}'");
}
