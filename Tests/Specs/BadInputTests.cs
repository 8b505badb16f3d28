using GanCluster.Contracts.Sweeps;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using ClientProgram = GanCluster.Client.Program;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Specs;

/// <summary>
/// Every malformed input we could think of, in one table: each is refused with a message naming the problem, the
/// client's <c>validate</c> and <c>run</c> exit with code 2, no member is created, and a member already training on the
/// cluster keeps training. A second table covers corrupt checkpoints, which are not refused but passed over: the
/// resume says which checkpoint it rejected and why, and carries on from the previous one.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class BadInputTests(BadInputTests.RunningCluster cluster) : IClassFixture<BadInputTests.RunningCluster>
{
    /// <summary>
    /// One malformed input. <see cref="Base"/>: the example it starts from ("ring8", "ring8-random") or, for syntax
    /// errors, the spec's whole text; <see cref="Set"/>: --set overrides; <see cref="Files"/>: writes data files into a
    /// folder and returns more overrides; <see cref="Expected"/>: the message fragment that names the problem;
    /// <see cref="ClusterRefuses"/>: only the cluster can tell (validate accepts it, run is refused by the silo).
    /// </summary>
    public sealed record Row(string Base, string[] Set, string Expected, Func<string, string[]>? Files = null, bool ClusterRefuses = false, string[]? Args = null)
    {
        /// <summary>validate judges the spec alone: it accepts rows that only the cluster or run's options can refuse.</summary>
        public bool ValidateAccepts => ClusterRefuses || Args is not null;
    }

    private static Row R(string expected, params string[] set) => new("ring8", set, expected);
    private static Row Text(string text, string expected) => new(text, [], expected);
    private static Row Search(string expected, params string[] set) => new("ring8-random", set, expected);
    private static Row Option(string expected, params string[] args) => new("ring8", [], expected, Args: args);
    private static Row IdxRow(string expected, Func<string, string[]> files) => new("ring8", ["data.kind=idx", "model.architecture=dcgan"], expected, files);

    public static readonly Dictionary<string, Row> Rows = new()
    {
        // ---- JSON syntax ----
        ["json: truncated"] = Text("{ \"name\": ", "not valid JSON (line 1"),
        ["json: missing comma"] = Text("{ \"training\": { \"steps\": 10 } \"seed\": 1 }", "not valid JSON (line 1"),
        ["json: an array, not an object"] = Text("[1, 2]", "must be a JSON object"),
        ["json: empty file"] = Text("", "not valid JSON"),
        ["json: a bare string"] = Text("\"ring8\"", "must be a JSON object"),
        ["json: NaN literal"] = Text("{ \"seed\": NaN }", "not valid JSON (line 1"),
        ["json: single quotes"] = Text("{ 'name': 'x' }", "not valid JSON (line 1"),
        ["json: unclosed comment"] = Text("{ \"name\": \"x\" /* ", "not valid JSON"),
        ["json: duplicate field"] = Text("{ \"seed\": 1, \"seed\": 2 }", "seed: appears more than once"),
        ["json: number too large for a double"] = Text("{ \"training\": { \"maxLoss\": 1e400 } }", "training.maxLoss"),
        // ---- unknown fields ----
        ["unknown: top level"] = R("colour: unknown field", "colour=blue"),
        ["unknown: training.stepz"] = R("training.stepz: unknown field (known fields of training: steps, batchSize", "training.stepz=10"),
        ["unknown: model.generator.widht"] = R("model.generator.widht: unknown field", "model.generator.widht=64"),
        ["unknown: techniques.dropout"] = R("techniques.dropout: unknown field", "techniques.dropout=0.5"),
        ["unknown: search.spaces"] = Search("search.spaces: unknown field", "search.spaces={}"),
        ["unknown: a searched path"] = Search("search.space point", "search.space={\"optimizer.lrr\": {\"uniform\": [0.1, 0.2]}}"),
        ["usage: --set without =" ] = R("--set steps: expected PATH=VALUE", "steps"),
        ["usage: --set into a number"] = R("training.steps: is not an object, cannot set training.steps.x", "training.steps.x=1"),
        // ---- wrong types ----
        ["type: string for a whole number"] = R("training.steps: must be a whole number, got a string", "training.steps=\"many\""),
        ["type: fraction for a whole number"] = R("training.steps: must be a whole number", "training.steps=2.5"),
        ["type: whole number out of range"] = R("training.batchSize: 99999999999 is out of range for a whole number", "training.batchSize=99999999999"),
        ["type: word for a number"] = R("optimizer.generatorLr: must be a number, got a string", "optimizer.generatorLr=fast"),
        ["type: NaN for a number"] = R("optimizer.generatorLr: must be a number, got a string", "optimizer.generatorLr=NaN"),
        ["type: number for an object"] = R("data: must be an object, got a number", "data=3"),
        ["type: list for an object"] = R("training: must be an object, got an array", "training=[1]"),
        ["type: null"] = R("data.kind: must not be null", "data.kind=null"),
        ["type: object for a string"] = R("name: must be a string, got an object", "name={}"),
        ["type: number for a boolean"] = R("techniques.conditional: must be true or false, got a number", "techniques.conditional=1"),
        ["type: string for a boolean"] = R("techniques.featureMatching: must be true or false, got a string", "techniques.featureMatching=yes"),
        ["type: search values not a list"] = Search("search.space.optimizer.beta1.uniform: must be a list, got a number", "search.space={\"optimizer.beta1\": {\"uniform\": 0.5}}"),
        // ---- out of range: name, seed, device ----
        ["range: name with a path"] = R("name: must be 1-64 letters", "name=../../etc"),
        ["range: empty name"] = R("name: must be 1-64 letters", "name=\"\""),
        ["range: name of 65 characters"] = R("name: must be 1-64 letters", "name=" + new string('n', 65)),
        ["range: negative seed"] = R("seed: must be between 0 and", "seed=-1"),
        ["range: unknown device"] = R("device: must be one of auto, cpu, cuda, cuda:N, got 'tpu'", "device=tpu"),
        // ---- data ----
        ["data: unknown kind"] = R("data.kind: must be one of ring, grid, gaussian1d, digits, idx, got 'spiral'", "data.kind=spiral"),
        ["data: std 0"] = R("data.std: must be greater than 0", "data.std=0"),
        ["data: no modes"] = R("data.modes: must be between 1 and 10000, got 0", "data.modes=0"),
        ["data: too many modes"] = R("data.modes: must be between 1 and 10000, got 10001", "data.modes=10001"),
        ["data: negative radius"] = R("data.radius: must be greater than 0", "data.radius=-1"),
        ["data: grid size 0"] = R("data.size: must be between 1 and 100, got 0", "data.kind=grid", "data.size=0"),
        ["data: grid spacing 0"] = R("data.spacing: must be greater than 0", "data.kind=grid", "data.spacing=0"),
        ["data: mean far out"] = R("data.mean: must be a finite number within ±1e6", "data.kind=gaussian1d", "data.mean=1e9"),
        // ---- model ----
        ["model: noiseDim 0"] = R("model.noiseDim: must be between 1 and 4096, got 0", "model.noiseDim=0"),
        ["model: noiseDim huge"] = R("model.noiseDim: must be between 1 and 4096, got 5000", "model.noiseDim=5000"),
        ["model: unknown noise"] = R("model.noise: must be one of normal, uniform, got 'cauchy'", "model.noise=cauchy"),
        ["model: width 0"] = R("model.generator.width: must be between 1 and 65536, got 0", "model.generator.width=0"),
        ["model: depth 65"] = R("model.discriminator.depth: must be between 0 and 64, got 65", "model.discriminator.depth=65"),
        ["model: unknown activation"] = R("model.discriminator.activation: must be one of relu, leaky_relu, tanh, got 'gelu'", "model.discriminator.activation=gelu"),
        ["model: negative noise categories"] = R("model.noiseCategories: must be between 0 and 4096, got -2", "model.noiseCategories=-2"),
        ["model: unknown architecture"] = R("model.architecture: must be one of mlp, dcgan, lapgan, got 'resnet'", "model.architecture=resnet"),
        ["model: unknown normalization"] = R("model.discriminator.normalization: must be one of batch, layer, none, got 'instance'", "model.discriminator.normalization=instance"),
        // ---- loss ----
        ["loss: unknown kind"] = R("loss.kind: must be one of standard, hinge, least_squares, wasserstein_gp, got 'wasserstein'", "loss.kind=wasserstein"),
        ["loss: unknown generator loss"] = R("loss.generator: must be one of non_saturating, minimax, got 'wasserstein'", "loss.generator=wasserstein"),
        ["loss: real smoothing 0.7"] = R("loss.realSmoothing: must be in [0, 0.5), got 0.7", "loss.realSmoothing=0.7"),
        ["loss: negative fake smoothing"] = R("loss.fakeSmoothing: must be in [0, 0.5), got -0.1", "loss.fakeSmoothing=-0.1"),
        ["loss: negative gradient penalty"] = R("loss.gradientPenalty: must be between 0 and 1e6, got -1", "loss.gradientPenalty=-1"),
        ["loss: negative R1"] = R("loss.r1: must be between 0 (off) and 1e6, got -0.5", "loss.r1=-0.5"),
        // ---- optimizer ----
        ["optimizer: unknown kind"] = R("optimizer.kind: must be one of adam, got 'sgd'", "optimizer.kind=sgd"),
        ["optimizer: lr 0"] = R("optimizer.generatorLr: must be greater than 0", "optimizer.generatorLr=0"),
        ["optimizer: lr 5"] = R("optimizer.discriminatorLr: must be greater than 0 and at most 1, got 5", "optimizer.discriminatorLr=5"),
        ["optimizer: beta1 1"] = R("optimizer.beta1: must be in [0, 1), got 1", "optimizer.beta1=1"),
        ["optimizer: negative beta2"] = R("optimizer.beta2: must be in [0, 1), got -0.1", "optimizer.beta2=-0.1"),
        // ---- training ----
        ["training: batch 0"] = R("training.batchSize: must be between 1 and 65536, got 0", "training.batchSize=0"),
        ["training: negative steps"] = R("training.steps: must be between 1 and 1000000000, got -5", "training.steps=-5"),
        ["training: k 0"] = R("training.dStepsPerGStep: must be between 1 and 100, got 0", "training.dStepsPerGStep=0"),
        ["training: logEvery 0"] = R("training.logEvery: must be between 1 and 1000000, got 0", "training.logEvery=0"),
        ["training: unknown order"] = R("training.order: must be one of d_first, g_first, got 'random'", "training.order=random"),
        ["training: maxLoss 0"] = R("training.maxLoss: must be greater than 0", "training.maxLoss=0"),
        ["training: batch × k too large"] = R("training: batchSize × dStepsPerGStep must be at most 1048576", "training.batchSize=65536", "training.dStepsPerGStep=100"),
        // ---- evaluation ----
        ["evaluation: every 0"] = R("evaluation.every: must be between 1 and 1000000000, got 0", "evaluation.every=0"),
        ["evaluation: 0 samples per mode"] = R("evaluation.minSamplesPerMode: must be between 1 and 1000000, got 0", "evaluation.minSamplesPerMode=0"),
        ["evaluation: no samples"] = R("evaluation.samples: must be between 1 and 1000000, got 0", "evaluation.samples=0"),
        ["evaluation: more per mode than samples"] = R("evaluation.minSamplesPerMode: must not exceed evaluation.samples (10), got 20", "evaluation.samples=10", "evaluation.minSamplesPerMode=20"),
        // ---- checkpoint ----
        ["checkpoint: every 0"] = R("checkpoint.every: must be between 1 and 1000000000, got 0", "checkpoint.every=0"),
        ["checkpoint: keep 0"] = R("checkpoint.keep: must be between 1 and 100, got 0", "checkpoint.keep=0"),
        ["checkpoint: keep 101"] = R("checkpoint.keep: must be between 1 and 100, got 101", "checkpoint.keep=101"),
        ["checkpoint: restartIfUnusable not a boolean"] = R("checkpoint.restartIfUnusable: must be true or false, got a string", "checkpoint.restartIfUnusable=yes"),
        // ---- techniques ----
        ["techniques: unrolled 99"] = R("techniques.unrolledSteps: must be between 0 and 50, got 99", "techniques.unrolledSteps=99"),
        ["techniques: negative kernels"] = R("techniques.minibatchDiscrimination.kernels: must be between 0 and 1024, got -1", "techniques.minibatchDiscrimination.kernels=-1"),
        ["techniques: kernelDim 0"] = R("techniques.minibatchDiscrimination.kernelDim: must be between 1 and 1024, got 0", "techniques.minibatchDiscrimination.kernelDim=0"),
        // ---- contradictions ----
        ["contradiction: hinge with smoothing"] = R("label smoothing applies to loss.kind standard only, not hinge", "loss.kind=hinge", "loss.realSmoothing=0.1"),
        ["contradiction: wgan-gp with minibatch discrimination"] = R("techniques.minibatchDiscrimination: cannot be combined with loss.kind wasserstein_gp", "loss.kind=wasserstein_gp", "techniques.minibatchDiscrimination.kernels=5"),
        ["contradiction: wgan-gp with batch norm"] = R("model.discriminator.normalization: batch cannot be used with loss.kind wasserstein_gp", "data.kind=digits", "model.architecture=dcgan", "loss.kind=wasserstein_gp"),
        ["contradiction: dcgan on a mixture"] = R("model.architecture: dcgan generates 28×28 images; mixtures (data.kind ring) need mlp", "model.architecture=dcgan"),
        ["contradiction: mlp on images"] = R("model.architecture: images (data.kind digits) need dcgan or lapgan, got mlp", "data.kind=digits"),
        ["contradiction: idx without files"] = R("data.images: is required for data.kind idx", "data.kind=idx", "model.architecture=dcgan"),
        ["contradiction: files for a mixture"] = R("data.images/labels: only data.kind idx reads files, not ring", "data.images=x.gz"),
        // ---- search ----
        ["search: unknown strategy"] = Search("search.strategy: must be one of", "search.strategy=bayes"),
        ["search: concurrency 0"] = Search("search.concurrency: must be between 1 and 1024, got 0", "search.concurrency=0"),
        ["search: no populations"] = Search("search.populations: must be between 1 and 1000, got 0", "search.populations=0"),
        ["search: empty space"] = Search("search.space: needs at least one hyperparameter", "search.space={}"),
        ["search: two kinds in a dimension"] = Search("must be an object with exactly one of choice, uniform, logUniform, intRange", "search.space={\"optimizer.beta1\": {\"uniform\": [0, 0.5], \"choice\": [0.1]}}"),
        ["search: low above high"] = Search("uniform: must be [low, high] with low < high", "search.space={\"optimizer.beta1\": {\"uniform\": [0.9, 0.1]}}"),
        ["search: log-uniform from 0"] = Search("logUniform: low must be greater than 0, got 0", "search.space={\"optimizer.generatorLr\": {\"logUniform\": [0, 0.1]}}"),
        ["search: searching the name"] = Search("search.space.name: the search and the name cannot be searched", "search.space={\"name\": {\"choice\": [\"a\", \"b\"]}}"),
        ["search: a point the spec refuses"] = Search("search.space point training.batchSize=0: training.batchSize: must be between 1 and 65536, got 0", "search.space={\"training.batchSize\": {\"choice\": [0, 64]}}"),
        ["search: pbt with median stopping"] = Search("search.medianStopping: PBT replaces weak members itself", "search.strategy=pbt", "search.medianStopping.enabled=true"),
        // ---- data files (idx) ----
        ["file: images missing"] = IdxRow("data.images: file '", dir => [$"data.images={Path.Combine(dir, "none-images-idx3-ubyte")}", $"data.labels={Labels(dir, 4)}"]),
        ["file: labels missing"] = IdxRow("does not exist", dir => [$"data.images={Images(dir, 4)}", $"data.labels={Path.Combine(dir, "none-labels-idx1-ubyte")}"]),
        ["file: images not IDX"] = IdxRow("data.images: ", dir => [$"data.images={Write(dir, "text-images-idx3-ubyte", "hello, world"u8.ToArray())}", $"data.labels={Labels(dir, 4)}"]),
        ["file: images truncated"] = IdxRow("data.images: ", dir => [$"data.images={Write(dir, "short-images-idx3-ubyte", [0, 0, 8, 3, 0, 0, 0, 5])}", $"data.labels={Labels(dir, 4)}"]),
        ["file: corrupt gzip"] = IdxRow("data.images: ", dir => [$"data.images={Write(dir, "bad-images-idx3-ubyte.gz", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])}", $"data.labels={Labels(dir, 4)}"]),
        ["file: labels in place of images"] = IdxRow("data.images: ", dir => [$"data.images={Labels(dir, 4)}", $"data.labels={Labels(dir, 4)}"]),
        ["file: label 12 of 10 classes"] = IdxRow("data.labels: ", dir => [$"data.images={Images(dir, 4)}", $"data.labels={Labels(dir, 4, label: 12)}"]),
        ["file: counts disagree"] = IdxRow("holds 3 labels but data.images holds 4 images", dir => [$"data.images={Images(dir, 4)}", $"data.labels={Labels(dir, 3)}"]),
        ["file: images not 28×28"] = IdxRow("holds 32×32 images; the image networks (dcgan, lapgan) need 28×28", dir => [$"data.images={Images(dir, 4, size: 32)}", $"data.labels={Labels(dir, 4)}"]),
        ["file: a folder, not a file"] = IdxRow("data.images: file '", dir => [$"data.images={dir}", $"data.labels={Labels(dir, 4)}"]),
        // ---- run's options ----
        ["option: member id with a path"] = Option("'../evil' is not a valid member or part name", "--member", "../evil"),
        ["option: member id with a space"] = Option("'two words' is not a valid member or part name", "--member", "two words"),
        ["option: gateway without a port"] = Option("--cluster: expected HOST:PORT of a silo gateway", "--cluster", "localhost"),
        ["option: gateway port out of range"] = Option("--cluster: expected HOST:PORT of a silo gateway (for example 127.0.0.1:30000) or redis://HOST:PORT of a cluster's Redis, got '127.0.0.1:70000'", "--cluster", "127.0.0.1:70000"),
        // ---- the cluster ----
        ["device: cuda on a silo without one"] = new("ring8", ["device=cuda"], "device: 'cuda' requested but this silo has no CUDA device", ClusterRefuses: true),
        ["device: cuda:3 on a silo without one"] = new("ring8", ["device=cuda:3"], "device: 'cuda:3' requested but this silo has no CUDA device", ClusterRefuses: true),
        // A spec needing more device memory than any silo has: device-aware placement's part of the same issue
        // (its memory estimate refuses it at start; it adds its row here when the branches meet).
    };

    public static TheoryData<string> RowNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Rows.Keys) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(RowNames))]
    public async Task Each_bad_input_is_refused_naming_the_problem_and_starts_nothing(string name)
    {
        var row = Rows[name];
        using var dir = new TempDirectory();
        string spec = Path.Combine(dir.Path, "spec.json");
        File.WriteAllText(spec, row.Base is "ring8" or "ring8-random" ? File.ReadAllText(Path.Combine(TestSpecs.ExamplesDirectory, row.Base + ".json")) : row.Base);
        string[] set = [.. row.Set, .. row.Files?.Invoke(dir.Path) ?? []];
        string[] overrides = set.SelectMany(s => new[] { "--set", s }).ToArray();
        string member = "bad-" + Math.Abs(name.GetHashCode(StringComparison.Ordinal)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        long bystanderBefore = (await cluster.Bystander.GetStatusAsync()).Step;

        // validate: refused (code 2) with the problem named, unless only the cluster can tell.
        var (code, error) = await ClientAsync(["validate", spec, .. overrides]);
        if (row.ValidateAccepts) Assert.True(code == 0, $"validate: {error}");
        else Assert.True(code == 2 && error.Contains(row.Expected, StringComparison.Ordinal), $"validate exited {code}, expected 2 with '{row.Expected}':\n{error}");

        // run against the running cluster: refused the same way, no output folder unless the cluster was asked.
        string outDir = Path.Combine(dir.Path, "out");
        var options = new Dictionary<string, string> { ["--cluster"] = cluster.Gateway, ["--member"] = member, ["--out"] = outDir };
        for (int i = 0; i + 1 < (row.Args?.Length ?? 0); i += 2) options[row.Args![i]] = row.Args[i + 1];
        (code, error) = await ClientAsync(["run", spec, .. overrides, .. options.SelectMany(o => new[] { o.Key, o.Value })]);
        Assert.True(code == 2 && error.Contains(row.Expected, StringComparison.Ordinal), $"run exited {code}, expected 2 with '{row.Expected}':\n{error}");
        Assert.False(Directory.Exists(outDir), "a refused run leaves no output folder");

        // Straight to the grains (another client, skipping the client's checks): a spec that is well-formed JSON of the
        // right types must still be refused by the coordinator before it creates anything.
        if (Typed(row, set) is { } typed && row.Files is null && row.Args is null)
        {
            string direct = member + "-direct";
            var e = await Assert.ThrowsAnyAsync<ArgumentException>(async () =>
            {
                if (typed.Search is null) await cluster.Client.GetGrain<ICoordinatorGrain>(direct).StartAsync(typed);
                else await cluster.Client.GetGrain<Contracts.Sweeps.ISweepGrain>(direct).SubmitAsync(typed);
            });
            Assert.Contains(row.Expected.Replace("search.space point ", "", StringComparison.Ordinal).Split(": ")[0], e.Message);
            if (typed.Search is null) Assert.Equal(MemberState.Pending, (await cluster.Client.GetGrain<ICoordinatorGrain>(direct).GetStatusAsync()).State);
            Assert.DoesNotContain(await cluster.Store.ListMemberRecordsAsync(), r => r.MemberId.StartsWith(direct, StringComparison.Ordinal));
        }

        // Nothing was created, and the member that was already training still is.
        Assert.DoesNotContain(await cluster.Store.ListMemberRecordsAsync(), r => r.MemberId.StartsWith(member, StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(cluster.DataDirectory, "members", member)), "no member folder");
        await cluster.AssertBystanderTrainsPastAsync(bystanderBefore);
    }

    /// <summary>The spec as typed records without validation, when its JSON has the right shape; null otherwise.</summary>
    private static GanSpec? Typed(Row row, string[] set)
    {
        if (row.Base is not ("ring8" or "ring8-random")) return null;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(Path.Combine(TestSpecs.ExamplesDirectory, row.Base + ".json")),
                documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!.AsObject();
            var problems = new List<string>();
            foreach (var s in set) SpecLoader.ApplyOverride(root, s, problems);
            return problems.Count == 0 ? root.Deserialize<GanSpec>(SpecLoader.Json) : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException or FormatException)
        {
            return null;
        }
    }

    // ---- corrupt checkpoints ----

    public static TheoryData<string> CheckpointDamage => new() { "flipped bytes", "truncated", "deleted", "manifest not JSON", "manifest deleted" };

    [Theory]
    [MemberData(nameof(CheckpointDamage))]
    public async Task A_corrupt_checkpoint_is_passed_over_and_the_resume_says_so(string damage)
    {
        string member = "corrupt-" + damage.Replace(' ', '-');
        var spec = TestSpecs.SmallRing(steps: 100_000) with
        {
            Name = "corrupt",
            Checkpoint = new CheckpointSpec { Every = 100, Keep = 10 },
            Evaluation = new EvaluationSpec { Every = 100_000, Samples = 500, MinSamplesPerMode = 5 },
        };
        var coordinator = cluster.Client.GetGrain<ICoordinatorGrain>(member);
        await coordinator.StartAsync(spec);
        await Eventually.WaitAsync(() => coordinator.GetStatusAsync().AsTask(), s => s.CheckpointStep >= 200, TimeSpan.FromSeconds(120), $"{member}: two checkpoints");
        var paused = await coordinator.PauseAsync();
        await coordinator.SuspendAsync(); // deactivates: the resume must load from the checkpoint files

        var manifests = await cluster.Store.ListManifestsAsync(member);
        var newest = manifests[0];
        Assert.Equal(paused.CheckpointStep, newest.Step);
        long previous = manifests[1].Step;
        string file = cluster.Store.Locate(newest.Generator);
        string expected;
        switch (damage)
        {
            case "flipped bytes":
                var bytes = File.ReadAllBytes(file);
                bytes[bytes.Length / 2] ^= 0xFF;
                File.WriteAllBytes(file, bytes);
                expected = "fails its SHA-256 check (corrupt)";
                break;
            case "truncated":
                File.WriteAllBytes(file, File.ReadAllBytes(file)[..^16]);
                expected = "(torn write?)";
                break;
            case "deleted":
                File.Delete(file);
                expected = "is missing";
                break;
            case "manifest not JSON":
                File.WriteAllText(Path.Combine(Path.GetDirectoryName(file)!, "manifest.json"), "{ \"memberId\": ");
                expected = "its manifest is missing or unreadable";
                break;
            default:
                File.Delete(Path.Combine(Path.GetDirectoryName(file)!, "manifest.json"));
                expected = "its manifest is missing or unreadable";
                break;
        }

        await coordinator.ResumeAsync();
        string line = $"Member {member}: checkpoint at step {newest.Step} is unusable (" + (damage.StartsWith("manifest", StringComparison.Ordinal) ? "" : $"checkpoint file {file}");
        var log = await Eventually.WaitAsync(() => Task.FromResult(cluster.Log()), l => l.Contains(line, StringComparison.Ordinal), TimeSpan.FromSeconds(60), $"the log line '{line}'");
        Assert.Contains(expected, log.Split('\n').First(l => l.Contains(line, StringComparison.Ordinal)));
        // It carries on from the previous checkpoint and trains past the damaged one.
        var status = await Eventually.WaitAsync(() => coordinator.GetStatusAsync().AsTask(), s => s.Step > newest.Step + 10 || s.State.IsFinished(), TimeSpan.FromSeconds(120), $"{member}: training past step {newest.Step}");
        Assert.Equal(MemberState.Running, status.State);
        Assert.True(previous < newest.Step);
        // The status says so too: resumed from the previous checkpoint, the damaged one skipped with the reason.
        Assert.Equal(previous, status.ResumedFromStep);
        var skipped = Assert.Single(status.SkippedCheckpoints);
        Assert.Equal(newest.Step, skipped.Step);
        Assert.Contains(expected, skipped.Reason);
        await coordinator.CancelAsync();
    }

    [Fact]
    public async Task A_run_that_resumes_a_member_says_in_the_console_and_the_report_from_which_checkpoint_and_which_it_skipped()
    {
        using var dir = new TempDirectory();
        const string member = "resumed-run";
        string specFile = Path.Combine(dir.Path, "resumed.json");
        File.WriteAllText(specFile, SpecLoader.ToJson(TestSpecs.SmallRing(steps: 1500) with
        {
            Name = "resumed",
            Checkpoint = new CheckpointSpec { Every = 100, Keep = 10 },
            Evaluation = new EvaluationSpec { Every = 1500, Samples = 500, MinSamplesPerMode = 5 },
        }));
        var spec = SpecLoader.Parse(File.ReadAllText(specFile));
        var coordinator = cluster.Client.GetGrain<ICoordinatorGrain>(member);
        await coordinator.StartAsync(spec);
        await Eventually.WaitAsync(() => coordinator.GetStatusAsync().AsTask(), s => s.CheckpointStep >= 200 || s.State.IsFinished(), TimeSpan.FromSeconds(120), $"{member}: two checkpoints");
        var paused = await coordinator.PauseAsync();
        Assert.Equal(MemberState.Paused, paused.State);
        await coordinator.SuspendAsync(); // deactivates: the resume must load from the checkpoint files
        var manifests = await cluster.Store.ListManifestsAsync(member);
        var newest = manifests[0];
        long previous = manifests[1].Step;
        string file = cluster.Store.Locate(newest.Generator);
        var bytes = File.ReadAllBytes(file);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(file, bytes);

        // Running the paused member again through the client resumes it.
        string outDir = Path.Combine(dir.Path, "out");
        var (code, output, error) = await ClientConsole.RunAsync(["run", specFile, "--cluster", cluster.Gateway, "--member", member, "--out", outDir]);
        Assert.True(code == 0, $"exit {code}:\n{error}\n{output}");
        string line = $"{member} resumed from its checkpoint at step {previous}, skipping 1 unusable (step {newest.Step}: checkpoint file {file} fails its SHA-256 check (corrupt))";
        Assert.True(output.Split('\n').Count(l => l.Trim() == line) == 1, $"expected the line once: {line}\n{output}");
        Assert.True(output.Split('\n').Count(l => l.Contains(" resumed from ", StringComparison.Ordinal)) == 1, $"expected one line on resuming:\n{output}");

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var json = report.RootElement.GetProperty("members")[0];
        Assert.Equal(previous, json.GetProperty("resumedFromStep").GetInt64());
        Assert.False(json.GetProperty("restartedFromScratch").GetBoolean());
        var skipped = Assert.Single(json.GetProperty("skippedCheckpoints").EnumerateArray());
        Assert.Equal(newest.Step, skipped.GetProperty("step").GetInt64());
        Assert.Contains("fails its SHA-256 check (corrupt)", skipped.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Reusing_a_member_id_with_another_spec_is_one_line_and_exit_code_2()
    {
        using var dir = new TempDirectory();
        string ring = Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json");
        string member = $"reused-{Guid.NewGuid():N}"[..20];
        string[] Run(string seed, string output) => ["run", ring, "--set", "training.steps=20", "--set", "evaluation.every=20", "--set", "checkpoint.every=20",
            "--set", $"seed={seed}", "--cluster", cluster.Gateway, "--member", member, "--out", Path.Combine(dir.Path, output)];
        var (code, error) = await ClientAsync(Run("1", "first"));
        Assert.True(code == 0, error);
        (code, error) = await ClientAsync(Run("2", "second"));
        Assert.True(code == 2, $"exit {code}:\n{error}");
        Assert.Equal($"error: member {member} already exists with a different spec; choose another member id (--member ID)", error.Trim());
    }

    [Theory]
    [InlineData("status")]
    [InlineData("watch")]
    [InlineData("results")]
    [InlineData("pause")]
    [InlineData("resume")]
    [InlineData("cancel")]
    public async Task An_unknown_sweep_id_is_one_line_and_exit_code_2_and_creates_nothing(string verb)
    {
        string id = $"no-such-sweep-{verb}";
        using var dir = new TempDirectory();
        string outDir = Path.Combine(dir.Path, "results");
        var (code, error) = await ClientAsync([verb, id, "--cluster", cluster.Gateway, .. verb == "results" ? new[] { "--out", outDir } : []]);
        Assert.True(code == 2, $"{verb} exited {code}:\n{error}");
        Assert.Equal($"error: no sweep '{id}' was submitted to this cluster (status lists the sweeps)", error.Trim());
        Assert.False(Directory.Exists(outDir));
        await Assert.ThrowsAsync<UnknownSweepException>(() => cluster.Client.GetGrain<ISweepGrain>(id).GetStatusAsync().AsTask());
    }

    // ---- helpers ----

    private static async Task<(int Code, string Error)> ClientAsync(string[] args)
    {
        var (code, _, error) = await ClientConsole.RunAsync(args);
        return (code, error);
    }

    private static string Write(string dir, string name, byte[] bytes)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Images(string dir, int count, int size = 28)
    {
        string path = Path.Combine(dir, $"i{count}x{size}-images-idx3-ubyte");
        Idx.WriteImages(path, new byte[count * size * size], count, size, size, gzip: false);
        return path;
    }

    private static string Labels(string dir, int count, byte label = 1)
    {
        string path = Path.Combine(dir, $"l{count}-{label}-labels-idx1-ubyte");
        Idx.WriteLabels(path, Enumerable.Repeat(label, count).ToArray(), gzip: false);
        return path;
    }

    /// <summary>A silo on loopback ports with a member training throughout (the bystander), reached through its gateway.</summary>
    public sealed class RunningCluster : IAsyncLifetime
    {
        private readonly TempDirectory data = new();
        private IHost silo = null!;
        private ClusterConnection connection = null!;

        public string DataDirectory => Path.Combine(data.Path, "data");
        public string Gateway { get; private set; } = "";
        public IClusterClient Client => connection.Client;
        public FileCheckpointStore Store => new(DataDirectory);
        public ICoordinatorGrain Bystander => Client.GetGrain<ICoordinatorGrain>("bystander");
        private string LogPath => Path.Combine(data.Path, "silo.log");

        public async Task InitializeAsync()
        {
            int gateway = SiloProcess.FreePort();
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Gan:SiloPort"] = SiloProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Gan:GatewayPort"] = gateway.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Gan:DataDirectory"] = DataDirectory,
                ["Gan:Compute:Threads"] = "2",
            });
            builder.Logging.ClearProviders();
            builder.Services.AddSerilog(new LoggerConfiguration().MinimumLevel.Information()
                .MinimumLevel.Override("Orleans", Serilog.Events.LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
                .WriteTo.File(LogPath, shared: true, flushToDiskInterval: TimeSpan.FromMilliseconds(100),
                    outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}")
                .CreateLogger(), dispose: true);
            builder.UseOrleans(s => s.UseGanLocalhostClustering(builder.Configuration).AddGanCluster(builder.Configuration));
            silo = builder.Build();
            await silo.StartAsync();
            Gateway = $"127.0.0.1:{gateway}";
            connection = await ClusterConnection.ConnectAsync(Gateway, TimeSpan.FromSeconds(30), CancellationToken.None);
            // Small and long: it trains through every row of the table.
            var spec = TestSpecs.SmallRing(steps: 100_000_000) with
            {
                Name = "bystander",
                Training = new TrainingSpec { Steps = 100_000_000, BatchSize = 32, DStepsPerGStep = 1, LogEvery = 100 },
                Evaluation = new EvaluationSpec { Every = 100_000_000, Samples = 100, MinSamplesPerMode = 1 },
                Checkpoint = new CheckpointSpec { Every = 100_000_000, Keep = 1 },
            };
            await Bystander.StartAsync(spec);
        }

        public async Task AssertBystanderTrainsPastAsync(long step)
        {
            var status = await Eventually.WaitAsync(() => Bystander.GetStatusAsync().AsTask(), s => s.Step > step || s.State != MemberState.Running,
                TimeSpan.FromSeconds(60), $"the bystander training past step {step}");
            Assert.True(status.State == MemberState.Running, $"the member already training was touched: {status.State} {status.Error}\n{Log()}");
        }

        public string Log()
        {
            try
            {
                using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                return new StreamReader(stream).ReadToEnd();
            }
            catch (IOException e) { return $"(no silo log: {e.Message})"; }
        }

        public async Task DisposeAsync()
        {
            try
            {
                try { await Bystander.CancelAsync(); } catch (Exception) { /* the silo may be failing already */ }
                await connection.DisposeAsync();
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await silo.StopAsync(stop.Token);
            }
            finally
            {
                silo.Dispose();
                data.Dispose();
            }
        }
    }
}
