using System.Diagnostics;
using GanCluster.Gan.Data;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Training;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace GanCluster.Tests.Processes;

/// <summary>
/// <c>export</c> through the real client: the generator it writes loads in PyTorch (Debian's python3-torch) through the
/// module written beside it, and gives the samples the cluster's own network gives for the same input.
/// </summary>
[Collection(ProcessCollection.Name)]
public class ExportTests(ITestOutputHelper output)
{
    private const string Python = "/usr/bin/python3";

    [SkippableTheory]
    [InlineData("pytorch")]
    [InlineData("safetensors")]
    public async Task A_trained_members_generator_loads_in_PyTorch_and_samples_as_in_the_cluster(string format)
    {
        SkipWithoutPyTorch();
        var data = await Trained.Value;
        using var dir = new TempDirectory();
        await ExportAndCompareAsync(dir.Path, data, "exported", format);
    }

    /// <summary>
    /// A member trained by `run` once for every format: an MLP G with batch norm and maxout, conditional on the mode,
    /// with noise categories and an EMA of its weights. Its data folder outlives the tests (under the temp folder).
    /// </summary>
    private static readonly Lazy<Task<string>> Trained = new(async () =>
    {
        string work = Directory.CreateTempSubdirectory("gancluster-export-").FullName;
        string data = Path.Combine(work, "data");
        using var run = new ClientProcess(work, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"),
            "--set", "training.steps=60", "--set", "evaluation.every=60", "--set", "evaluation.samples=200", "--set", "checkpoint.every=60",
            "--set", "model.generator.width=16", "--set", "model.generator.depth=2", "--set", "model.generator.normalization=batch",
            "--set", "model.generator.maxout=2", "--set", "model.noiseCategories=3", "--set", "techniques.conditional=true",
            "--set", "techniques.generatorEma=0.9", "--member", "exported", "--out", Path.Combine(work, "run"), "--data", data);
        int code = await run.ExitCodeAsync(TimeSpan.FromMinutes(3));
        return code == 0 ? data : throw new Xunit.Sdk.XunitException($"run exited {code}:\n{run.Output}");
    });

    [SkippableFact]
    public async Task A_conditional_DCGAN_generator_loads_in_PyTorch_and_samples_as_in_the_cluster()
    {
        SkipWithoutPyTorch();
        using var dir = new TempDirectory();
        string data = Path.Combine(dir.Path, "data");
        var spec = TestSpecs.SmallRing() with
        {
            Data = new DataSpec { Kind = "digits" },
            Model = new ModelSpec { Architecture = "dcgan", NoiseDim = 8, Generator = new NetworkSpec { Width = 8 }, Discriminator = new NetworkSpec { Width = 8 } },
            Training = new TrainingSpec { BatchSize = 16 },
            Techniques = new TechniquesSpec { Conditional = true },
        };
        // Two steps of the reference loop, stored as the cluster stores a member: its coordinator state and a checkpoint.
        using (var loop = new ReferenceLoop(spec))
        {
            loop.Step();
            loop.Step();
            var store = new FileCheckpointStore(data);
            var g = await store.WritePartAsync("digits-member", 2, "generator", Bytes(loop.Generator.Save));
            var d = await store.WritePartAsync("digits-member", 2, "discriminator", Bytes(loop.Discriminator.Save));
            await store.WriteManifestAsync(new CheckpointManifest("digits-member", 2, g, d, DateTimeOffset.UtcNow));
            var state = new Orleans.GrainState<CoordinatorState>(new CoordinatorState { MemberId = "digits-member", Spec = spec, Step = 2 });
            await new Silo.Hosting.FileGrainStorage(Path.Combine(data, "grains")).WriteStateAsync("member", GrainId.Create("coordinator", "digits-member"), state);
        }
        await ExportAndCompareAsync(dir.Path, data, "digits-member", "pytorch");
    }

    [Fact]
    public async Task Export_refuses_an_unknown_member_and_a_bad_format_in_one_line()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir.Path, "data"));
        foreach (var (args, expected) in new[]
        {
            (new[] { "export", "nobody", "--data", "data" }, "error: no member 'nobody' in"),
            (["export", "nobody", "--data", "data", "--format", "onnx"], "error: --format: one of pytorch, safetensors, torchsharp, got 'onnx'"),
            (["export", "nobody", "--data", "missing"], "error: --data: no data directory"),
        })
        {
            using var client = new ClientProcess(dir.Path, args);
            Assert.Equal(2, await client.ExitCodeAsync(TimeSpan.FromMinutes(1)));
            Assert.StartsWith(expected, client.Output.Trim());
            Assert.DoesNotContain("   at ", client.Output);
        }
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "exports")));
    }

    private async Task ExportAndCompareAsync(string work, string data, string memberId, string format)
    {
        string exported = Path.Combine(work, "export");
        using (var export = new ClientProcess(work, "export", memberId, "--data", data, "--format", format, "--out", exported))
        {
            Assert.True(await export.ExitCodeAsync(TimeSpan.FromMinutes(2)) == 0, export.Output);
            output.WriteLine(export.Output);
        }

        // The cluster's side: the member's checkpoint loaded as a worker loads it, its sampling network on fixed input.
        var store = new FileCheckpointStore(data);
        var manifest = (await store.ListManifestsAsync(memberId)).MaxBy(m => m.Step)!;
        var state = new Orleans.GrainState<CoordinatorState>();
        await new Silo.Hosting.FileGrainStorage(Path.Combine(data, "grains")).ReadStateAsync("member", GrainId.Create("coordinator", memberId), state);
        var spec = state.State!.Spec!;
        var realData = RealData.FromSpec(spec.Data);
        using var model = new GeneratorModel(spec, realData, CPU);
        using (var reader = new BinaryReader(new MemoryStream(await store.ReadPartAsync(manifest.Generator)))) model.Load(reader);
        int n = 64, inputs = spec.Model.GeneratorInputs();
        using var z = randn([n, inputs], generator: new torch.Generator(11));
        using var labels = arange(n, dtype: ScalarType.Int64) % Math.Max(1, realData.ClassCount);
        float[] expected;
        using (no_grad())
        using (var x = model.SamplingNetwork.Generate(z, spec.Techniques.Conditional ? labels : null))
            expected = x.data<float>().ToArray();

        File.WriteAllBytes(Path.Combine(work, "z.f32"), z.bytes.ToArray());
        File.WriteAllBytes(Path.Combine(work, "labels.i64"), labels.bytes.ToArray());
        string script = $"""
            import sys, numpy, torch
            sys.path.insert(0, {Quote(exported)})
            import gancluster_generator as g
            G = g.load({Quote(exported)})
            z = torch.from_numpy(numpy.fromfile({Quote(Path.Combine(work, "z.f32"))}, dtype=numpy.float32).reshape({n}, {inputs}))
            labels = torch.from_numpy(numpy.fromfile({Quote(Path.Combine(work, "labels.i64"))}, dtype=numpy.int64))
            with torch.no_grad():
                x = G(z, labels if G.config["classes"] > 0 else None)
            x.numpy().astype(numpy.float32).tofile({Quote(Path.Combine(work, "x.f32"))})
            print("pytorch", torch.__version__, "samples", tuple(x.shape))
            """;
        var (code, text) = await RunAsync(Python, "-c", script);
        output.WriteLine(text);
        Assert.True(code == 0, text);
        var bytes = File.ReadAllBytes(Path.Combine(work, "x.f32"));
        var actual = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, actual, 0, bytes.Length);
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst < 1e-4, $"largest difference {worst} between the cluster's samples and PyTorch's");
        Assert.True(expected.Distinct().Count() > n, "the samples vary");
    }

    private static string Quote(string s) => "r'" + s + "'";

    private static byte[] Bytes(Action<BinaryWriter> save)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) save(writer);
        return stream.ToArray();
    }

    private static void SkipWithoutPyTorch()
    {
        bool available = File.Exists(Python) && RunAsync(Python, "-c", "import torch, numpy").GetAwaiter().GetResult().Code == 0;
        // CI installs python3-torch (.ci/run): there a missing one is a failure, not a skip.
        Skip.If(!available && Environment.GetEnvironmentVariable("CI") is null && Environment.GetEnvironmentVariable("GANCLUSTER_CI") is null,
            "needs Debian's python3-torch for /usr/bin/python3 (apt-get install python3-torch); .ci/run installs it");
    }

    private static async Task<(int Code, string Text)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout + await stderr);
    }
}
