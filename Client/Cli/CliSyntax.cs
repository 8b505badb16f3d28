using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace GanCluster.Client.Cli;

/// <summary>
/// Every command and option of the client, declared for System.CommandLine: it parses them, writes each command's
/// help (<c>gancluster COMMAND --help</c>), suggests a near name for a mistyped one and answers shell completion
/// (<c>[suggest:N]</c>, the dotnet-suggest protocol). What the values mean is still checked by the commands.
/// </summary>
public static class CliSyntax
{
    /// <summary>No response files (an argument starting with @ is a name, not a file of arguments), no bundling of -abc.</summary>
    public static readonly ParserConfiguration Parser = new() { ResponseFileTokenReplacer = null, EnablePosixBundling = false };

    private static readonly HashSet<string> Repeatable = ["--set"];

    public static bool IsRepeatable(Option option) => Repeatable.Contains(option.Name);

    /// <summary>A value option (given once; <c>--set</c> as often as needed).</summary>
    public static Option Value(string name, string helpName, string description, params string[] completions)
    {
        Option option = Repeatable.Contains(name)
            ? new Option<string[]>(name) { HelpName = helpName, Description = description, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.OneOrMore }
            : new Option<string>(name) { HelpName = helpName, Description = description };
        if (completions.Length > 0) option.CompletionSources.Add(completions);
        return option;
    }

    /// <summary>An option without a value.</summary>
    public static Option Flag(string name, string description) => new Option<bool>(name) { Description = description };

    /// <summary>
    /// A command with at most one positional argument: extra words are left to the command, which says how many it
    /// takes ("run needs exactly one SPEC file").
    /// </summary>
    public static Command Verb(string name, string description, string? argument, string? argumentDescription, params Option[] options)
    {
        var command = new Command(name, description);
        if (argument is not null)
            command.Add(new Argument<string>(argument) { Arity = ArgumentArity.ZeroOrOne, Description = argumentDescription });
        foreach (var option in options) command.Add(option);
        return command;
    }

    /// <summary>A root command with the client's --help (no /?, -? or --version: arguments stay arguments).</summary>
    public static RootCommand Root(string name, string description)
    {
        var root = new RootCommand(description) { HelpName = name };
        foreach (var option in root.Options.ToList()) root.Options.Remove(option);
        root.Options.Add(new HelpOption("--help", "-h") { Recursive = true, Description = "show this command's help" });
        return root;
    }

    private static Option Out(string what) => Value("--out", "DIR", what);
    private static Option Set() => Value("--set", "PATH=VALUE", "overrides a spec field, e.g. --set training.steps=2000 (validated like the file); repeatable");
    private static Option Cluster() => Value("--cluster", "HOST:PORT", "gateway of a running silo, or redis://HOST:PORT: the cluster's Redis (every gateway, with fail-over)");
    private static Option Data(string what) => Value("--data", "DIR", what);
    private static Option TensorBoard(string what) => Value("--tensorboard", "DIR", what);

    /// <summary>The client: <c>gancluster COMMAND ...</c>.</summary>
    public static RootCommand Gancluster { get; } = Build();

    private static RootCommand Build()
    {
        var root = Root("gancluster", "GanCluster client — train GANs on an Orleans cluster.");
        const string sweepId = "the sweep's id (submit printed it; status lists them)";
        root.Add(Verb("run", """
            Trains the spec. Without --cluster, hosts a silo in this process (no external service). With a spec that has
            a search section, trains a sweep (grid or random search) with a live table and writes report.json (every
            member), leaderboard.md and the best member's pictures. Ctrl+C or SIGTERM stops cleanly: the member (or
            sweep) checkpoints, the report is written, exit code 130.
            """, "SPEC", "the spec file (JSON)",
            Out("where report.json, samples.png, curves.png, samples.csv go (default runs/<name>-<time>-<8 hex>)"),
            Data("the embedded silo's data directory: checkpoints, grain state, the digit classifier (default data)"),
            Set(),
            Cluster(),
            Value("--member", "ID", "member id (default <name>-<time>-<8 hex>, never the same twice); re-using one resumes it"),
            TensorBoard("TensorBoard runs per member under DIR (embedded silo; a cluster's silos: Gan:TensorBoard)")));
        root.Add(Verb("validate", "Checks a spec and prints it with every default filled in.", "SPEC", "the spec file (JSON)", Set()));
        root.Add(Verb("submit", """
            Submits a sweep spec to a running cluster and prints the sweep id; the sweep runs without the client. The
            same spec again, while its sweep is running or paused, prints that sweep's id (and says so on stderr)
            instead of starting another.
            """, "SPEC", "the sweep spec file (JSON, with a search section)",
            Cluster(), Set(),
            Value("--sweep", "ID", "names the sweep: the same spec under it answers with that sweep, another spec is refused (exit code 2)"),
            Flag("--new", "starts another sweep even when one of the same spec is running or paused")));
        root.Add(Verb("status", "Every sweep of the cluster, or one sweep's table.", "ID", sweepId, Cluster()));
        root.Add(Verb("watch", "The live table of a sweep until it ends (Ctrl+C leaves it running).", "ID", sweepId, Cluster()));
        root.Add(Verb("pause", "Pauses a sweep: every running member checkpoints and stops.", "ID", sweepId, Cluster()));
        root.Add(Verb("resume", "Resumes a paused sweep.", "ID", sweepId, Cluster()));
        root.Add(Verb("cancel", "Cancels a sweep: every member checkpoints and stops for good.", "ID", sweepId, Cluster()));
        root.Add(Verb("results", "Writes a sweep's report.json, leaderboard.md and the best member's pictures.", "ID", sweepId,
            Cluster(),
            Out("where the files go (default runs/ID)"),
            TensorBoard("a TensorBoard run per member under DIR")));
        root.Add(Verb("bench", """
            Steps per second of the plain single-process TorchSharp loop and of one member through the embedded silo's
            grains, side by side. The whole performance suite is its own program:
            dotnet run --project benchmarks -c Release -- --suite all
            """, "SPEC", "the spec file (JSON)",
            Set(),
            Value("--steps", "N", "timed steps (default 2000)"),
            Value("--warmup", "N", "warm-up steps before timing (default 200)"),
            Value("--repeats", "N", "rounds; the best counts (default 3)")));
        var experiment = new Command("experiment", "The experiments that measure the techniques.");
        experiment.Add(Verb("mode-collapse", """
            Trains the ring of 8 and the grid of 25 under each technique through the cluster and writes a PacGAN-style
            table (results.md) and sample panels (ring8-panel.png, grid25-panel.png).
            """, null, null,
            Value("--seeds", "N", "seeds per technique and data set (default 3)"),
            Value("--out", "DIR", "where results.md and the panels go (default runs/mode-collapse-<time>)"),
            Value("--ring-steps", "N", "steps on the ring of 8 (default 5000)"),
            Value("--grid-steps", "N", "steps on the grid of 25 (default 10000)"),
            Value("--concurrency", "N", "members at a time (default: one per core)"),
            Value("--only", "NAMES", "only the techniques whose names contain one of these (comma-separated)"),
            Value("--batch", "N", "batch size (default 256)"),
            Value("--parts", "LIST", "mixtures, images or both (default mixtures,images)", "mixtures", "images", "mixtures,images"),
            Value("--image-steps", "N", "steps on the digits (default 2000)"),
            Value("--examples", "DIR", "the folder of ring8.json and grid25.json (default examples)"),
            Data("the embedded silo's data directory (default OUT/data)")));
        root.Add(experiment);
        root.Add(Verb("export", """
            Writes the member's generator (its moving average when generatorEma is on) from its latest checkpoint in
            the data directory, with generator.json and gancluster_generator.py, a PyTorch module that builds the same
            network and loads it.
            """, "MEMBER", "the member's id",
            Data("the data directory that holds the member (default data)"),
            Value("--format", "FORMAT", "pytorch (default), safetensors or torchsharp", ExportCommand.Formats),
            Value("--step", "N", "the checkpoint's step (default the latest)"),
            Out("where the files go (default exports/MEMBER-stepN)")));
        root.Add(new Command("help", "Prints the usage, or a command's help.")
        {
            new Argument<string[]>("COMMAND") { Arity = ArgumentArity.ZeroOrMore, Description = "the command" },
        });
        return root;
    }

    /// <summary>Writes the help of the command <paramref name="path"/> names (System.CommandLine's layout) to <paramref name="output"/>.</summary>
    public static void WriteHelp(RootCommand root, IEnumerable<string> path, TextWriter output)
    {
        var result = root.Parse([.. path, "--help"], Parser);
        if (result.Action is HelpAction help) help.MaxWidth = Math.Max(80, Console.IsOutputRedirected ? 120 : Console.WindowWidth);
        result.Invoke(new InvocationConfiguration { Output = output, Error = Console.Error });
    }
}
