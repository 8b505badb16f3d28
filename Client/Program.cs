using System.CommandLine;
using GanCluster.Gan.Data;
using GanCluster.Client.Cli;
using GanCluster.Client.Hosting;
using GanCluster.Gan.Specs;

namespace GanCluster.Client;

public static class Program
{
    public const string Usage = """
        GanCluster client — train GANs on an Orleans cluster.

        usage:
          gancluster run SPEC [--out DIR] [--data DIR] [--set PATH=VALUE]... [--cluster HOST:PORT] [--member ID] [--tensorboard DIR]
              Trains the spec. Without --cluster, hosts a silo in this process (no external service).
              --out DIR       where report.json, samples.png, curves.png, samples.csv go (default runs/<name>-<time>-<8 hex>)
              --data DIR      the embedded silo's data directory: checkpoints, grain state, the digit classifier (default data)
              --set P=V       overrides a spec field, e.g. --set training.steps=2000 (validated like the file)
              --cluster H:P   gateway of a running cluster instead of the embedded silo; --cluster redis://H:P finds
                              every gateway of a multi-machine cluster in its Redis (and fails over between them)
              --member ID     member id (default <name>-<time>-<8 hex>, never the same twice); re-using one resumes it
              --tensorboard D TensorBoard runs per member under D (embedded silo; a cluster's silos: Gan:TensorBoard)
              Ctrl+C or SIGTERM stops cleanly: the member (or sweep) checkpoints, the report is written, exit 130.
          With a spec that has a search section, run trains a sweep (grid or random search) with a live table and
          writes report.json (every member), leaderboard.md and the best member's pictures.
          gancluster submit SPEC --cluster H:P [--sweep ID | --new]   prints the sweep id; the sweep runs without the client
              The same spec again, while its sweep is running or paused, prints that sweep's id (and says so on
              stderr) instead of starting another; --new starts another anyway. --sweep ID names the sweep: the
              same spec under it answers with that sweep, another spec is refused (exit 2).
          gancluster status [ID] --cluster H:P                every sweep, or one sweep's table
          gancluster watch ID --cluster H:P                   the live table until the sweep ends (Ctrl+C leaves it running)
          gancluster pause|resume|cancel ID --cluster H:P
          gancluster results ID --cluster H:P [--out DIR] [--tensorboard DIR]
              report.json, leaderboard.md, the best member's pictures; --tensorboard: a TensorBoard run per member
          gancluster bench SPEC [--steps N] [--warmup N] [--repeats N] [--set PATH=VALUE]...
              Steps per second of the plain single-process TorchSharp loop and of one member through the
              embedded silo's grains, side by side.
              The whole performance suite is its own program: dotnet run --project benchmarks -c Release -- --suite all
          gancluster experiment mode-collapse [--seeds N] [--out DIR] [--ring-steps N] [--grid-steps N] [--concurrency N] [--only NAMES]
              Trains the ring of 8 and the grid of 25 under each technique through the cluster and writes a
              PacGAN-style table (results.md) and sample panels (ring8-panel.png, grid25-panel.png).
          gancluster export MEMBER [--data DIR] [--format pytorch|safetensors|torchsharp] [--step N] [--out DIR]
              Writes the member's generator (its moving average when generatorEma is on) from its latest checkpoint
              in the data directory (default data), with generator.json and gancluster_generator.py, a PyTorch
              module that builds the same network and loads it (default --out exports/MEMBER-stepN).
          gancluster validate SPEC [--set PATH=VALUE]...
              Checks a spec and prints it with every default filled in.
          gancluster COMMAND --help (or help COMMAND)
              That command's arguments and options.

        exit codes: 0 done, 2 bad input, 3 cluster unreachable, 4 training failed or diverged, 130 interrupted
        """;

    public static async Task<int> Main(string[] args)
    {
        try
        {
            Gan.Compute.CpuKernels.EnsureConfigured(); // before libtorch's first matrix product
            var line = CommandLine.Parse(args);
            if (line.Verb == "help")
            {
                // The whole usage for help, --help and -h; a command's own help for COMMAND --help and help COMMAND.
                if (line.HelpFor.Count == 0) Console.WriteLine(Usage);
                else CliSyntax.WriteHelp(CliSyntax.Gancluster, line.HelpFor, Console.Out);
                return ExitCodes.Ok;
            }
            if (line.Immediate is { } directive) // [suggest:N] "command line": shell completion
                return directive.Invoke(new InvocationConfiguration { Output = Console.Out, Error = Console.Error });
            return line.Verb switch
            {
                "run" => await RunCommand.ExecuteAsync(line),
                "validate" => ValidateCommand(line),
                "bench" => await BenchCommand.ExecuteAsync(line),
                "export" => await ExportCommand.ExecuteAsync(line),
                "submit" or "status" or "watch" or "pause" or "resume" or "cancel" or "results" =>
                    await SweepCommands.ExecuteAsync(line, Microsoft.Extensions.Configuration.EnvironmentVariablesExtensions.AddEnvironmentVariables(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), "GANCLUSTER_").Build()),
                "experiment mode-collapse" => await Experiments.ModeCollapseExperiment.ExecuteAsync(line),
                _ => throw new UsageException($"unknown command '{line.Verb}'"),
            };
        }
        catch (UsageException e)
        {
            // One line that says what is wrong, then where the usage is.
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine(HelpHint(args));
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is Contracts.Sweeps.UnknownSweepException or Contracts.Members.ConflictingSpecException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (ArgumentException e) // SpecException included
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (ClusterUnreachableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.Unreachable;
        }
        catch (Exception e) when (ClusterCalls.IsTransient(e))
        {
            // A call outside ClusterCalls' retries that lost its way to the cluster: one line, not a stack trace.
            Console.Error.WriteLine($"error: lost the cluster: {e.Message.Split('\n')[0]}");
            return ExitCodes.Unreachable;
        }
    }

    /// <summary>Where to read the usage of the command that was refused.</summary>
    private static string HelpHint(string[] args)
    {
        var words = args.TakeWhile(a => !a.StartsWith('-')).ToList();
        Command command = CliSyntax.Gancluster;
        var path = new List<string>();
        foreach (var word in words)
        {
            if (command.Subcommands.FirstOrDefault(c => c.Name == word) is not { } sub) break;
            command = sub;
            path.Add(word);
        }
        return path is [] or ["help"] ? "usage: gancluster help" : $"usage: gancluster {string.Join(' ', path)} --help";
    }

    private static int ValidateCommand(CommandLine line)
    {
        line.AllowOnly("--set");
        if (line.Arguments.Count != 1) throw new UsageException("validate needs exactly one SPEC file");
        var spec = SpecFile.Load(line.Arguments[0], line.All("--set"));
        Console.WriteLine(SpecLoader.ToJson(spec));
        return ExitCodes.Ok;
    }
}
