using System.Globalization;
using GanCluster.Gan.Data;
using GanCluster.Client.Hosting;
using GanCluster.Client.Reports;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using Microsoft.Extensions.Configuration;

namespace GanCluster.Client.Cli;

/// <summary>
/// <c>run SPEC</c>: validates the spec before anything starts, trains one member through the coordinator and its
/// workers, shows live progress, and writes the run's report.
/// </summary>
public static class RunCommand
{
    public static async Task<int> ExecuteAsync(CommandLine line)
    {
        line.AllowOnly("--out", "--set", "--cluster", "--member", "--data", "--tensorboard");
        if (line.Arguments.Count != 1) throw new UsageException("run needs exactly one SPEC file");
        // Validation first: a bad spec never activates a grain or starts a silo.
        var spec = SpecFile.Load(line.Arguments[0], line.All("--set"));
        string defaultId = DefaultId.For(spec.Name);
        string memberId = line.Option("--member") ?? defaultId;
        Grains.Storage.FileCheckpointStore.SafeName(memberId);
        string outDir = OutputFolder.Check(line.Option("--out") ?? Path.Combine("runs", defaultId));
        // No folder yet: the embedded silo's log or the report makes it, so a run refused on the way leaves none.

        string? tensorBoard = line.Option("--tensorboard") is { } board ? OutputFolder.Check(board, "--tensorboard") : null;
        if (tensorBoard is not null && line.Option("--cluster") is not null)
            throw new UsageException($"--tensorboard writes from the embedded silo; on a cluster set {Grains.Telemetry.TensorBoardSink.Setting} on the silos, or use results ID --tensorboard DIR");

        // First Ctrl+C or SIGTERM: stop cleanly (checkpoint, report). Second: leave at once.
        using var interrupt = new Interrupt();
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Gan:DataDirectory"] = line.Option("--data") ?? "data",
                [Grains.Telemetry.TensorBoardSink.Setting] = tensorBoard,
            })
            .AddEnvironmentVariables("GANCLUSTER_")
            .Build();
        string? gateway = line.Option("--cluster");
        await using var cluster = gateway is null
            ? await ClusterConnection.StartEmbeddedAsync(config, Path.Combine(outDir, "silo.log"), CancellationToken.None)
            : await ClusterConnection.ConnectAsync(gateway, ClusterConnection.ConnectTimeout(gateway), CancellationToken.None, config);
        if (spec.Search is not null)
            return await SweepCommands.RunAsync(spec, cluster, outDir, memberId, interrupt);
        Console.WriteLine($"GanCluster: training {spec.Name} as member {memberId} on the {cluster.Description}");
        Console.WriteLine($"output: {outDir}");

        var coordinator = cluster.Client.GetGrain<ICoordinatorGrain>(memberId);
        var view = new ProgressView();
        var observer = cluster.Client.CreateObjectReference<IMemberObserver>(view);
        await coordinator.SubscribeAsync(observer);
        var status = await view.LiveAsync(async () =>
        {
            view.Show(await coordinator.StartAsync(spec));
            var status = await WaitAsync(coordinator, observer, view, interrupt.Token);
            if (interrupt.Requested && !status.State.IsFinished())
            {
                view.Note("interrupted: cancelling the member (it writes a checkpoint first)…");
                status = await coordinator.CancelAsync();
                view.Show(status);
            }
            return status;
        });
        try { await coordinator.UnsubscribeAsync(observer); } catch (Exception) { /* the silo may be going away */ }

        var report = await coordinator.GetReportAsync();
        RunReport.Write(outDir, [report]);
        Console.WriteLine(Summary(report, outDir));
        return status.State switch
        {
            MemberState.Completed => ExitCodes.Ok,
            MemberState.Cancelled => ExitCodes.Interrupted,
            _ => ExitCodes.TrainingFailed,
        };
    }

    /// <summary>
    /// Waits for the observer to report the end. Observers are not durable, so the subscription is renewed every
    /// minute, and a status call every few seconds guards against a lost notification.
    /// </summary>
    private static async Task<MemberStatus> WaitAsync(ICoordinatorGrain coordinator, IMemberObserver observer, ProgressView view, CancellationToken interrupt)
    {
        var renew = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var tick = Task.Delay(TimeSpan.FromSeconds(5), interrupt);
            var done = await Task.WhenAny(view.Finished, tick);
            if (done == view.Finished) return await view.Finished;
            if (interrupt.IsCancellationRequested) return view.Latest ?? await coordinator.GetStatusAsync();
            var status = await coordinator.GetStatusAsync();
            view.Show(status);
            if (status.State.IsFinished()) return status;
            if (DateTime.UtcNow > renew)
            {
                await coordinator.SubscribeAsync(observer);
                renew = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            }
        }
    }

    private static string Summary(MemberReport report, string outDir)
    {
        var s = report.Status;
        var c = CultureInfo.InvariantCulture;
        var text = string.Create(c, $"{s.MemberId}: {s.State.ToString().ToLowerInvariant()} at step {s.Step}/{s.TotalSteps}");
        if (s.Evaluation is { } e)
            text += string.Create(c, $"; {e.ModesCovered}/{e.ModesTotal} modes covered ({e.ModesWithAnyHighQuality} by VEEGAN's rule), {e.HighQualityFraction:P1} high quality, reverse KL {e.ReverseKl:F3}, D(real) {e.MeanDReal:F3}, D(fake) {e.MeanDFake:F3}");
        if (s.ImageEvaluation is { } ie)
            text += string.Create(c, $"; {ie.ClassesCovered}/{ie.ClassCount} classes, Fréchet distance {ie.FrechetDistance:F1}, class KL {ie.ClassKl:F3}, confident {ie.ConfidentFraction:P0}")
                + (ie.LabelAccuracy is double a ? string.Create(c, $", label accuracy {a:P1}") : "");
        if (s.Error is not null) text += $"\nerror: {s.Error}";
        string files = string.Join(", ", new[] { "samples.png", "curves.png", "samples.csv" }.Where(f => File.Exists(Path.Combine(outDir, f))));
        return text + $"\nwrote {Path.Combine(outDir, "report.json")}, {files}";
    }
}
