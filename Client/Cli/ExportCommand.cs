using System.Globalization;
using System.Text.Json.Nodes;
using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using TorchSharp;
using TorchSharp.PyBridge;

namespace GanCluster.Client.Cli;

/// <summary>
/// <c>export MEMBER</c>: a member's generator, from its latest checkpoint (or <c>--step</c>) in a data directory, as a
/// PyTorch <c>state_dict</c>, safetensors or TorchSharp weights, beside <c>generator.json</c> (the architecture and the
/// noise) and <c>gancluster_generator.py</c>, a self-contained PyTorch module that builds the same network and loads them.
/// The weights are those the member samples from: the moving average when techniques.generatorEma is on.
/// </summary>
public static class ExportCommand
{
    internal static readonly string[] Formats = ["pytorch", "safetensors", "torchsharp"];

    public static async Task<int> ExecuteAsync(CommandLine line)
    {
        line.AllowOnly("--data", "--format", "--out", "--step");
        if (line.Arguments.Count != 1) throw new UsageException("export needs exactly one MEMBER id");
        string memberId = line.Arguments[0];
        FileCheckpointStore.SafeName(memberId);
        string format = line.Option("--format") ?? "pytorch";
        if (!Formats.Contains(format)) throw new UsageException($"--format: one of {string.Join(", ", Formats)}, got '{format}'");
        string data = Path.GetFullPath(line.Option("--data") ?? "data");
        if (!Directory.Exists(data)) throw new ArgumentException($"--data: no data directory {data}");
        long? step = line.Option("--step") is { } s
            ? long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : throw new UsageException($"--step: a step number, got '{s}'")
            : null;

        var spec = await ReadSpecAsync(data, memberId);
        var store = new FileCheckpointStore(data);
        var manifests = await store.ListManifestsAsync(memberId);
        var manifest = step is { } wanted
            ? manifests.FirstOrDefault(m => m.Step == wanted)
                ?? throw new ArgumentException($"member {memberId} has no checkpoint at step {wanted} (it has {Steps(manifests)})")
            : manifests.MaxBy(m => m.Step)
                ?? throw new ArgumentException($"member {memberId} has no checkpoint in {data} yet");

        string outDir = OutputFolder.Check(line.Option("--out") ?? Path.Combine("exports", $"{memberId}-step{manifest.Step}"));
        string weights = format switch
        {
            "pytorch" => "generator.pt",
            "safetensors" => "generator.safetensors",
            _ => "generator.dat",
        };
        var config = Config(spec, memberId, manifest.Step, weights, format);
        var realData = RealData.FromSpec(spec.Data);
        using var model = new GeneratorModel(spec, realData, torch.CPU);
        using (var reader = new BinaryReader(new MemoryStream(await store.ReadPartAsync(manifest.Generator))))
            model.Load(reader);

        Directory.CreateDirectory(outDir);
        // A fresh network with the sampling weights copied in: the trained one's parameters are views into the
        // optimizer's one flat buffer, which PyTorch's format would store with offsets into storage it does not write.
        using var network = Gan.Networks.NetworkFactory.Generator(spec, realData);
        network.load_state_dict(model.SamplingNetwork.state_dict());
        string weightsPath = Path.Combine(outDir, weights);
        switch (format)
        {
            case "pytorch": network.save_py(weightsPath); break;
            case "safetensors": network.save_safetensors(weightsPath); break;
            default: network.save(weightsPath); break;
        }
        File.WriteAllText(Path.Combine(outDir, "generator.json"), config.ToJsonString(new() { WriteIndented = true }) + "\n");
        using (var module = typeof(ExportCommand).Assembly.GetManifestResourceStream("GanCluster.Client.gancluster_generator.py")!)
        using (var file = File.Create(Path.Combine(outDir, "gancluster_generator.py")))
            module.CopyTo(file);
        Console.WriteLine($"exported the generator of {memberId} at step {manifest.Step} ({format}{(spec.Techniques.GeneratorEma > 0 ? ", its moving average" : "")}) to {outDir}");
        Console.WriteLine($"  {weights}, generator.json, gancluster_generator.py");
        Console.WriteLine(format == "torchsharp"
            ? "  load in .NET: build the same network (GanCluster.Gan.Networks.NetworkFactory.Generator) and call .load(path)"
            : $"  in Python: import gancluster_generator as g; G = g.load(\"{outDir}\"); x = G.sample(16)");
        return ExitCodes.Ok;
    }

    private static string Steps(IReadOnlyList<CheckpointManifest> manifests) =>
        manifests.Count == 0 ? "none" : string.Join(", ", manifests.Select(m => m.Step).Order());

    /// <summary>The member's spec, from its coordinator's state in the data directory's grain storage.</summary>
    private static async Task<GanSpec> ReadSpecAsync(string data, string memberId)
    {
        var storage = new Silo.Hosting.FileGrainStorage(Path.Combine(data, "grains"));
        var state = new Orleans.GrainState<CoordinatorState>();
        await storage.ReadStateAsync("member", GrainId.Create("coordinator", memberId), state);
        return state.RecordExists && state.State?.Spec is { } spec
            ? spec
            : throw new ArgumentException($"no member '{memberId}' in {data} (members: {Members(data)})");
    }

    private static string Members(string data)
    {
        var dir = Path.Combine(data, "members");
        var names = Directory.Exists(dir) ? Directory.GetDirectories(dir).Select(Path.GetFileName).Order().Take(5).ToList() : [];
        return names.Count == 0 ? "none" : string.Join(", ", names) + (names.Count == 5 ? ", …" : "");
    }

    /// <summary>What the Python module needs to build the network and draw its input.</summary>
    private static JsonObject Config(GanSpec spec, string memberId, long step, string weights, string format)
    {
        var m = spec.Model;
        if (m.Architecture is not ("mlp" or "dcgan"))
            throw new ArgumentException($"export: the {m.Architecture} generator cannot be exported yet (mlp and dcgan can)");
        var data = RealData.FromSpec(spec.Data);
        return new JsonObject
        {
            ["member"] = memberId,
            ["step"] = step,
            ["weights"] = weights,
            ["format"] = format,
            ["architecture"] = m.Architecture,
            ["noiseDim"] = m.NoiseDim,
            ["noise"] = m.Noise,
            ["noiseCategories"] = m.NoiseCategories,
            ["classes"] = spec.Techniques.Conditional ? data.ClassCount : 0,
            ["outputs"] = data.SampleShape.Aggregate(1L, (a, b) => a * b),
            ["width"] = m.Generator.Width,
            ["depth"] = m.Generator.Depth,
            ["activation"] = m.Generator.Activation,
            ["normalization"] = m.Generator.Normalization ?? "none",
            ["maxout"] = m.Generator.Maxout,
            ["spec"] = JsonNode.Parse(SpecLoader.ToJson(spec)),
        };
    }
}
