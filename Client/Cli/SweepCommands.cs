using System.Globalization;
using GanCluster.Gan.Data;
using GanCluster.Client.Hosting;
using GanCluster.Client.Reports;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
using Microsoft.Extensions.Configuration;

namespace GanCluster.Client.Cli;

/// <summary>
/// Sweeps from the console: <c>run</c> of a spec with a search section (embedded or on a cluster), and against a
/// cluster <c>submit</c>, <c>status</c>, <c>watch</c>, <c>pause</c>, <c>resume</c>, <c>cancel</c>, <c>results</c>.
/// </summary>
public static class SweepCommands
{
    /// <summary>run SPEC for a sweep: submit, watch live, write the results; Ctrl+C or SIGTERM cancels the sweep.</summary>
    public static async Task<int> RunAsync(GanSpec spec, ClusterConnection cluster, string outDir, string id, Interrupt interrupt)
    {
        var sweep = cluster.Client.GetGrain<ISweepGrain>(id);
        {
            var view = new SweepView();
            var observer = cluster.Client.CreateObjectReference<ISweepObserver>(view);
            await Call(async () => { await sweep.SubscribeAsync(observer); return true; });
            Console.WriteLine($"GanCluster: sweep {id} on the {cluster.Description}; output: {outDir}");
            var status = await view.LiveAsync(async () =>
            {
                view.Show(await Call(() => sweep.SubmitAsync(spec)));
                var status = await WaitAsync(sweep, observer, view, interrupt.Token);
                if (interrupt.Requested && status.State is not (SweepState.Completed or SweepState.Cancelled))
                {
                    view.Note("interrupted: cancelling the sweep (every member writes a checkpoint first)…");
                    status = await sweep.CancelAsync();
                    view.Show(status);
                }
                return status;
            });
            await WriteResultsAsync(cluster, status, outDir);
            return status.State == SweepState.Completed ? ExitCodes.Ok : ExitCodes.Interrupted;
        }
    }

    /// <summary>
    /// Follows the sweep until it ends or <paramref name="interrupt"/> fires: notifications as they come, and a status
    /// call every few seconds (observers are not durable) that rides out silo deaths and gateway changes
    /// (<see cref="ClusterCalls"/>); after an outage the observer subscribes again, on whichever silo holds the sweep now.
    /// </summary>
    private static async Task<SweepStatus> WaitAsync(ISweepGrain sweep, ISweepObserver observer, SweepView view, CancellationToken interrupt)
    {
        var renew = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var tick = Task.Delay(TimeSpan.FromSeconds(5), interrupt);
            if (await Task.WhenAny(view.Finished, tick) == view.Finished) return await view.Finished;
            if (interrupt.IsCancellationRequested) return view.Latest ?? await sweep.GetStatusAsync();
            bool outage = false;
            SweepStatus status;
            try
            {
                status = await ClusterCalls.CallAsync(() => sweep.GetStatusAsync().AsTask(), interrupt, line => { outage = true; Warn(line); });
            }
            catch (OperationCanceledException) when (interrupt.IsCancellationRequested && view.Latest is not null)
            {
                return view.Latest;
            }
            view.Show(status);
            if (status.State is SweepState.Completed or SweepState.Cancelled) return status;
            if (outage || DateTime.UtcNow > renew)
            {
                await ClusterCalls.CallAsync(() => sweep.SubscribeAsync(observer).AsTask(), interrupt, Warn);
                renew = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            }
        }
    }

    private static void Warn(string line) => Console.Error.WriteLine(line);

    /// <summary>How long a submit's claim on its spec holds others back (a submit takes seconds; a claim that outlives a
    /// failed one lapses).</summary>
    private static readonly TimeSpan SubmitClaim = TimeSpan.FromSeconds(60);

    /// <summary>One grain call that rides out a silo's death (<see cref="ClusterCalls"/>).</summary>
    private static Task<T> Call<T>(Func<ValueTask<T>> call) => ClusterCalls.CallAsync(() => call().AsTask(), CancellationToken.None, Warn);

    /// <summary>report.json (every member), leaderboard.md, and the best member's samples.png and curves.png.</summary>
    public static async Task WriteResultsAsync(ClusterConnection cluster, SweepStatus status, string outDir, string? tensorBoard = null)
    {
        var ranked = status.Members.Where(m => m.Started).OrderByDescending(m => m.Fitness ?? double.NegativeInfinity).ToList();
        if (ranked.Count == 0) { Console.WriteLine("no member has started; nothing to report"); return; }
        var reports = new List<MemberReport>();
        foreach (var m in ranked)
            reports.Add(await Call(() => cluster.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetReportAsync()));
        RunReport.Write(outDir, reports, status);
        FitnessPlot.Write(Path.Combine(outDir, "fitness.png"), reports, status.Lineage, $"sweep {status.SweepId} ({status.Strategy})");
        File.WriteAllText(Path.Combine(outDir, "leaderboard.md"), SweepView.Leaderboard(status));
        bool searched = HyperparameterPlot.Write(Path.Combine(outDir, "hyperparameters.png"), status);
        Console.WriteLine($"wrote {Path.Combine(outDir, "report.json")}, leaderboard.md, fitness.png, {(searched ? "hyperparameters.png, " : "")}and the best member's samples.png, curves.png");
        if (tensorBoard is not null)
        {
            foreach (var (m, report) in ranked.Zip(reports))
            {
                var labels = new Grains.Telemetry.MemberLabels(status.SweepId, m.Population.ToString(System.Globalization.CultureInfo.InvariantCulture), m.MemberId);
                var mixture = SpecValidator.IsImageData(report.Spec.Data.Kind) ? null : Gan.Data.MixtureDataset.FromSpec(report.Spec.Data);
                new Grains.Telemetry.MemberBoard(Grains.Telemetry.TensorBoardSink.RunDirectory(tensorBoard, labels))
                    .Replay(report, status.Lineage.Where(e => e.MemberId == m.MemberId), mixture?.ModeCenters, mixture?.Std ?? 0);
            }
            Console.WriteLine($"wrote TensorBoard runs for {reports.Count} members under {Path.Combine(tensorBoard, status.SweepId)} (tensorboard --logdir {tensorBoard})");
        }
    }

    /// <summary>The cluster verbs; each needs --cluster.</summary>
    public static async Task<int> ExecuteAsync(CommandLine line, IConfiguration config)
    {
        // Everything that needs no cluster is checked first: a bad command line is exit 2 even when no cluster answers.
        line.AllowOnly(line.Verb switch
        {
            "submit" => ["--cluster", "--set", "--sweep", "--new"],
            "status" or "watch" or "pause" or "resume" or "cancel" => ["--cluster"],
            "results" => ["--cluster", "--out", "--tensorboard"],
            _ => throw new UsageException($"unknown command '{line.Verb}'"),
        });
        GanSpec? spec = null;
        string? given = null, outDir = null;
        bool fresh = false;
        if (line.Verb == "submit")
        {
            if (line.Arguments.Count != 1) throw new UsageException("submit needs exactly one SPEC file");
            given = line.Option("--sweep");
            fresh = line.Option("--new") is not null;
            if (given is not null && fresh) throw new UsageException("submit takes --sweep ID or --new, not both (--new makes a fresh id)");
            if (given is not null) Grains.Storage.FileCheckpointStore.SafeName(given);
            spec = Gan.Data.SpecFile.Load(line.Arguments[0], line.All("--set"));
            if (spec.Search is null) throw new UsageException("submit takes a sweep spec (with a search section); train a single spec with run");
        }
        else if (line.Verb == "status")
        {
            if (line.Arguments.Count > 1) throw new UsageException("status takes at most one sweep ID");
        }
        else Single(line);
        if (line.Verb == "results") outDir = OutputFolder.Check(line.Option("--out") ?? Path.Combine("runs", Single(line)));
        string gateway = line.Option("--cluster") ?? throw new UsageException($"{line.Verb} needs --cluster HOST:PORT (a running silo's gateway) or --cluster redis://HOST:PORT (a cluster's Redis)");
        await using var cluster = await ClusterConnection.ConnectAsync(gateway, ClusterConnection.ConnectTimeout(gateway), CancellationToken.None, config);
        switch (line.Verb)
        {
            case "submit":
            {
                // The same spec again answers with the sweep already training it (its id on stdout, for scripts).
                // Two clients submitting it at the same moment: the index lets one claim it; the other waits for
                // that sweep to appear and answers with it.
                string id = given ?? DefaultId.For(spec!.Name);
                var deadline = DateTime.UtcNow + 2 * SubmitClaim;
                while (given is null && !fresh)
                {
                    if (await UnfinishedWithSameSpecAsync(cluster, spec!) is { } same)
                    {
                        Console.Error.WriteLine(same.State == SweepState.Paused
                            ? $"already submitted as sweep {same.SweepId}, paused (same spec); resume it, or pass --new to start another"
                            : $"already running as sweep {same.SweepId} (same spec); pass --new to start another");
                        Console.WriteLine(same.SweepId);
                        return ExitCodes.Ok;
                    }
                    string hash = SpecLoader.ContentHash(spec!);
                    var index = cluster.Client.GetGrain<ISweepIndexGrain>(0);
                    string held = await Call(() => index.ClaimAsync(hash, id, SubmitClaim));
                    // The holder's sweep has ended (the check above found nothing unfinished): take its claim over.
                    if (held != id && await HasEndedAsync(cluster, held)) held = await Call(() => index.ClaimAsync(hash, id, SubmitClaim, finished: held));
                    if (held == id || DateTime.UtcNow > deadline) break;
                    await Task.Delay(TimeSpan.FromMilliseconds(500)); // another client is submitting this spec now
                }
                var status = await Call(() => cluster.Client.GetGrain<ISweepGrain>(id).SubmitAsync(spec!));
                Console.WriteLine(status.SweepId);
                return ExitCodes.Ok;
            }
            case "status":
            {
                if (line.Arguments.Count == 0)
                {
                    foreach (var id in await Call(() => cluster.Client.GetGrain<ISweepIndexGrain>(0).ListAsync()))
                    {
                        var s = await Call(() => cluster.Client.GetGrain<ISweepGrain>(id).GetStatusAsync());
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{id}: {s.State.ToString().ToLowerInvariant()}, {s.Members.Count(m => m.State == MemberState.Completed)}/{s.Members.Count} members completed, best {s.Best?.Fitness:F4}"));
                    }
                    return ExitCodes.Ok;
                }
                var one = Existing(cluster, line.Arguments[0]);
                var table = await Call(() => one.GetStatusAsync());
                if (Terminal.IsLive) Spectre.Console.AnsiConsole.Write(SweepView.LiveTable(table));
                else foreach (var l in SweepView.Table(table)) Console.WriteLine(l);
                return ExitCodes.Ok;
            }
            case "watch":
            {
                var sweep = Existing(cluster, Single(line));
                var view = new SweepView();
                var observer = cluster.Client.CreateObjectReference<ISweepObserver>(view);
                await Call(async () => { await sweep.SubscribeAsync(observer); return true; });
                // Ctrl+C or SIGTERM stops watching; the sweep goes on in the cluster.
                using var interrupt = new Interrupt();
                var final = await view.LiveAsync(async () =>
                {
                    view.Show(await Call(() => sweep.GetStatusAsync()));
                    return await WaitAsync(sweep, observer, view, interrupt.Token);
                });
                if (interrupt.Requested)
                {
                    try { await sweep.UnsubscribeAsync(observer); } catch (Exception) { /* leaving anyway */ }
                    Console.WriteLine($"stopped watching; sweep {final.SweepId} goes on ({final.State.ToString().ToLowerInvariant()})");
                    return ExitCodes.Interrupted;
                }
                return final.State == SweepState.Completed ? ExitCodes.Ok : ExitCodes.Interrupted;
            }
            case "pause" or "resume" or "cancel":
            {
                var sweep = Existing(cluster, Single(line));
                await Call(() => sweep.GetStatusAsync());
                // Each is idempotent (pausing a paused sweep answers its status), so a call that is tried again is safe.
                var s = await Call(() => line.Verb switch { "pause" => sweep.PauseAsync(), "resume" => sweep.ResumeAsync(), _ => sweep.CancelAsync() });
                Console.WriteLine($"{s.SweepId}: {s.State.ToString().ToLowerInvariant()}");
                return ExitCodes.Ok;
            }
            case "results":
            {
                var finished = Existing(cluster, Single(line));
                string? board = line.Option("--tensorboard") is { } b ? OutputFolder.Check(b, "--tensorboard") : null;
                await WriteResultsAsync(cluster, await Call(() => finished.GetStatusAsync()), outDir!, board);
                return ExitCodes.Ok;
            }
            default:
                throw new UsageException($"unknown command '{line.Verb}'");
        }
    }

    /// <summary>
    /// The oldest sweep submitted with this spec's content (<see cref="SpecLoader.ContentHash"/>) that is still running
    /// or paused; null when there is none (or only finished and cancelled ones).
    /// </summary>
    private static async Task<SweepStatus?> UnfinishedWithSameSpecAsync(ClusterConnection cluster, GanSpec spec)
    {
        foreach (var id in await cluster.Client.GetGrain<ISweepIndexGrain>(0).WithContentAsync(SpecLoader.ContentHash(spec)))
        {
            SweepStatus status;
            try { status = await Call(() => cluster.Client.GetGrain<ISweepGrain>(id).GetStatusAsync()); }
            catch (UnknownSweepException) { continue; }
            if (status.State is SweepState.Running or SweepState.Paused) return status;
        }
        return null;
    }

    /// <summary>Whether a sweep exists and has completed or been cancelled (one being submitted does not exist yet).</summary>
    private static async Task<bool> HasEndedAsync(ClusterConnection cluster, string sweepId)
    {
        try { return (await Call(() => cluster.Client.GetGrain<ISweepGrain>(sweepId).GetStatusAsync())).State is SweepState.Completed or SweepState.Cancelled; }
        catch (UnknownSweepException) { return false; }
    }

    private static string Single(CommandLine line) =>
        line.Arguments.Count == 1 ? line.Arguments[0] : throw new UsageException($"{line.Verb} needs exactly one sweep ID");

    private static ISweepGrain Existing(ClusterConnection cluster, string id)
    {
        Grains.Storage.FileCheckpointStore.SafeName(id);
        return cluster.Client.GetGrain<ISweepGrain>(id);
    }
}
