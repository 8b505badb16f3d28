using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GanCluster.Client.Cli;
using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Sweeps;
using GanCluster.Tests.Support;
using Xunit.Abstractions;

namespace GanCluster.Tests.Processes;

/// <summary>
/// A real multi-silo cluster: redis-server (append-only) and three silo processes joined through it on loopback, a
/// sweep submitted by a client that finds the gateways in Redis, `watch` following it as a client process, and two
/// silos SIGKILLed mid-sweep (a fresh silo joins between the kills).
/// </summary>
[Collection(ProcessCollection.Name)]
public partial class ClusterProcessTests(ITestOutputHelper output)
{
    // Long enough that no member finishes before all have checkpointed twice, however fast members train (1,200 was not, once
    // G and D stepped together on one silo).
    private const long Steps = 4000, CheckpointEvery = 100;

    /// <summary>Members of the chaos sweep: 6 in CI; GANCLUSTER_CHAOS_MEMBERS=16 runs the issue's 16-member chaos run.</summary>
    private static readonly int Members = int.TryParse(Environment.GetEnvironmentVariable("GANCLUSTER_CHAOS_MEMBERS"), out int n) && n > 0 ? n : 6;

    private static GanSpec SweepSpec() => TestSpecs.SmallRing(steps: Steps) with
    {
        Checkpoint = new() { Every = CheckpointEvery, Keep = 3 },
        Evaluation = new() { Every = 600, Samples = 500, MinSamplesPerMode = 10 },
        Search = new SearchSpec
        {
            Strategy = "random", MembersPerPopulation = Members, Concurrency = Members, Seed = 3,
            Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 3e-3] } },
        },
    };

    /// <summary>What a silo's log says it hosts (each line names the member or sweep).</summary>
    private sealed record Hosted(int Coordinators, int Workers, bool Sweep);

    [GeneratedRegex(@"Member ([\w.\-]+) starts at step \d+")]
    private static partial Regex CoordinatorLine();
    [GeneratedRegex(@"Member ([\w.\-]+): (generator|discriminator) ready at step \d+")]
    private static partial Regex WorkerLine();
    [GeneratedRegex(@"Member ([\w.\-]+) (?:starts at step|recovered: continuing from step) (\d+)")]
    private static partial Regex ResumeLine();

    private static Hosted WhatHosts(string log, string sweepId) => new(
        CoordinatorLine().Matches(log).Select(m => m.Groups[1].Value).Distinct().Count(),
        WorkerLine().Matches(log).Select(m => m.Groups[1].Value + m.Groups[2].Value).Distinct().Count(),
        log.Contains($"Sweep {sweepId} active on this silo", StringComparison.Ordinal));

    [Fact]
    public async Task Every_member_of_a_sweep_finishes_losing_at_most_one_checkpoint_interval_through_two_silo_kills_while_watch_follows_it()
    {
        var clock = Stopwatch.StartNew();
        using var work = new TempDirectory();
        await using var redis = await RedisServer.StartAsync();
        var silos = new List<SiloProcess>();
        try
        {
            Task<SiloProcess> StartSilo(int i) => SiloProcess.StartAsync(Directory.CreateDirectory(Path.Combine(work.Path, $"silo{i}")).FullName,
                extraArguments: ["--cluster", redis.Url, "--Gan:Compute:Threads", "1"]);
            await SiloStarts.StartAllAsync(Enumerable.Range(0, 3).Select(StartSilo).ToList(), silos);
            Assert.All(silos, s => Assert.Contains("Cluster mode: membership, grain state and checkpoints in Redis", s.Output));
            output.WriteLine($"3 silos up after {clock.Elapsed.TotalSeconds:F1} s");

            await using var client = await ClusterConnection.ConnectAsync(redis.Url, TimeSpan.FromSeconds(20), CancellationToken.None);
            const string sweepId = "killed-mid-sweep";
            var sweep = client.Client.GetGrain<ISweepGrain>(sweepId);
            var submitted = await sweep.SubmitAsync(SweepSpec());
            var memberIds = submitted.Members.Select(m => m.MemberId).ToList();
            Assert.Equal(Members, memberIds.Count);
            Task<MemberStatus[]> Statuses() => Task.WhenAll(memberIds.Select(id => client.Client.GetGrain<ICoordinatorGrain>(id).GetStatusAsync().AsTask()));

            // The user's view: `watch` through Redis, from submission to the end, as its own process.
            using var watch = new ClientProcess(work.Path, "watch", sweepId, "--cluster", redis.Url);
            await watch.WaitForAsync($"sweep {sweepId}", TimeSpan.FromSeconds(60));

            // Mid-way: every member has checkpointed at least twice and none has finished.
            await PollAsync(Statuses, all => all.All(s => s.CheckpointStep >= 2 * CheckpointEvery) || all.Any(s => s.State.IsFinished()),
                TimeSpan.FromSeconds(90), "every member to checkpoint twice", silos);

            // First kill: the victim rotates with the clock between the silo of the sweep grain, of most coordinators,
            // of most workers. Second kill, after a fresh silo has joined: whichever silo holds the sweep grain then.
            var hosted = silos.Select(s => WhatHosts(s.Output, sweepId)).ToList();
            // Control spreads: the coordinators are not all on one silo (they all sat beside the sweep grain once).
            output.WriteLine($"coordinators per silo: {string.Join(", ", hosted.Select(h => h.Coordinators))}");
            Assert.True(hosted.Max(h => h.Coordinators) < memberIds.Count, $"every coordinator is on one silo: {string.Join(", ", hosted)}");
            int mode = (int)(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMinute % 3);
            int victim = mode switch
            {
                0 => hosted.FindIndex(h => h.Sweep),
                1 => hosted.IndexOf(hosted.MaxBy(h => h.Coordinators)!),
                _ => hosted.IndexOf(hosted.MaxBy(h => h.Workers)!),
            };
            if (victim < 0) victim = hosted.IndexOf(hosted.MaxBy(h => h.Coordinators + h.Workers)!);
            await KillAndRecoverAsync(victim, $"{new[] { "sweep grain", "most coordinators", "most workers" }[mode]}: {hosted[victim]}");

            silos.Add(await StartSilo(3));
            output.WriteLine($"silo 3 joined at {clock.Elapsed.TotalSeconds:F1} s");
            var alive = silos.Where(s => !s.HasExited).ToList();
            var sweepHost = alive.MaxBy(s => s.Output.LastIndexOf($"Sweep {sweepId} active on this silo", StringComparison.Ordinal) is var at and >= 0 ? at : -1)!;
            if (sweepHost.Output.Contains($"Sweep {sweepId} active on this silo", StringComparison.Ordinal))
                await KillAndRecoverAsync(silos.IndexOf(sweepHost), "the sweep grain's silo now");
            else output.WriteLine("no live silo logged the sweep grain; second kill skipped");

            var done = await PollAsync(() => sweep.GetStatusAsync().AsTask(), s => s.State is SweepState.Completed or SweepState.Cancelled,
                TimeSpan.FromSeconds(180), "the sweep to complete", silos.Where(s => !s.HasExited).ToList());
            foreach (var m in done.Members.Where(m => m.State != MemberState.Completed || m.Step != Steps))
            {
                var own = await client.Client.GetGrain<ICoordinatorGrain>(m.MemberId).GetStatusAsync();
                Assert.Fail($"member {m.MemberId} ended {own.State} at step {own.Step}: {own.Error}\n"
                    + string.Join("\n", silos.SelectMany(s => s.Output.Split('\n')).Where(l => l.Contains(m.MemberId, StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal) || l.StartsWith("   at ", StringComparison.Ordinal)).TakeLast(80)));
            }
            Assert.Equal(SweepState.Completed, done.State);

            // watch followed the sweep through both kills and ends with the final table.
            int watchExit = await watch.ExitCodeAsync(TimeSpan.FromSeconds(60));
            output.WriteLine("--- watch ---\n" + watch.Output);
            Assert.Equal(0, watchExit);
            Assert.Contains($"sweep {sweepId} (random, {Members} members, at most {Members} at once): completed", watch.Output);
            Assert.DoesNotContain("   at ", watch.Output);

            // The report lists every member.
            string outDir = Path.Combine(work.Path, "results");
            await SweepCommands.WriteResultsAsync(client, done, outDir);
            var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "report.json")))!;
            var reported = report["members"]!.AsArray().Select(m => (string)m!["id"]!).Order().ToList();
            Assert.Equal(memberIds.Order(), reported);
            output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");

            // Kills silo `index` with SIGKILL; every member then passes the step it had, and each that resumed did so
            // from a checkpoint no older than the last one it had before the kill (at most one interval replayed).
            async Task KillAndRecoverAsync(int index, string what)
            {
                var atKill = (await PollAsync(Statuses, _ => true, TimeSpan.FromSeconds(60), "member statuses", silos.Where(s => !s.HasExited).ToList())).ToDictionary(s => s.MemberId);
                Assert.True(atKill.Values.Any(s => s.State == MemberState.Running), $"no member is running any more at the kill of silo {index} ({what})");
                var survivors = silos.Where((s, i) => i != index && !s.HasExited).ToList();
                var logBefore = survivors.ToDictionary(s => s, s => s.Output.Length);
                silos[index].Kill();
                var killedAt = clock.Elapsed;
                output.WriteLine($"killed silo {index} ({what}) at {killedAt.TotalSeconds:F1} s; "
                    + string.Join(", ", atKill.Values.Select(s => $"{s.MemberId} step {s.Step} checkpoint {s.CheckpointStep}")));
                await PollAsync(Statuses, all => all.All(s => s.Step > atKill[s.MemberId].Step || s.State.IsFinished()),
                    TimeSpan.FromSeconds(90), "every member to pass its step at the kill", survivors);
                output.WriteLine($"recovery (kill → every member past its step at the kill): {(clock.Elapsed - killedAt).TotalSeconds:F1} s");
                bool sweepMoved = false;
                int resumed = 0;
                foreach (var s in survivors)
                {
                    string after = s.Output[logBefore[s]..].Replace("\"", "", StringComparison.Ordinal);
                    sweepMoved |= after.Contains($"Sweep {sweepId} active on this silo", StringComparison.Ordinal);
                    foreach (Match m in ResumeLine().Matches(after))
                    {
                        string id = m.Groups[1].Value;
                        if (!atKill.TryGetValue(id, out var before) || before.State.IsFinished()) continue;
                        long resumedAt = long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
                        Assert.True(resumedAt >= before.CheckpointStep,
                            $"member {id} resumed at step {resumedAt}, older than its checkpoint at step {before.CheckpointStep} before the kill:\n{after}");
                        output.WriteLine($"  {id}: step {before.Step} at the kill → resumed at {resumedAt} ({before.Step - resumedAt} steps replayed)");
                        resumed++;
                    }
                }
                Assert.True(resumed > 0 || sweepMoved, $"the killed silo {index} hosted nothing that had to move (no member resumed, the sweep did not move)");
            }
        }
        finally
        {
            foreach (var s in silos) await s.DisposeAsync();
            // For a closer look at a run: GANCLUSTER_TEST_LOGS=DIR keeps every silo's log.
            if (Environment.GetEnvironmentVariable("GANCLUSTER_TEST_LOGS") is { Length: > 0 } logs)
            {
                Directory.CreateDirectory(logs);
                for (int i = 0; i < silos.Count; i++) await File.WriteAllTextAsync(Path.Combine(logs, $"silo{i}.log"), silos[i].Output);
            }
        }
    }

    [Fact]
    public async Task A_SIGTERM_checkpoints_the_silos_members_where_they_are_and_they_carry_on_elsewhere_without_losing_a_step()
    {
        using var work = new TempDirectory();
        await using var redis = await RedisServer.StartAsync();
        var silos = new List<SiloProcess>();
        try
        {
            var starting = Enumerable.Range(0, 2).Select(i =>
                SiloProcess.StartAsync(Directory.CreateDirectory(Path.Combine(work.Path, $"silo{i}")).FullName,
                    extraArguments: ["--cluster", redis.Url, "--Gan:Compute:Threads", "1"])).ToList();
            await SiloStarts.StartAllAsync(starting, silos);

            await using var client = await ClusterConnection.ConnectAsync(redis.Url, TimeSpan.FromSeconds(20), CancellationToken.None);
            const string id = "terminated";
            var member = client.Client.GetGrain<ICoordinatorGrain>(id);
            // A checkpoint interval longer than the run: only the shutdown writes one mid-way.
            await member.StartAsync(TestSpecs.SmallRing(steps: 1500) with { Checkpoint = new() { Every = 1500 }, Evaluation = new() { Every = 1500, Samples = 500, MinSamplesPerMode = 10 } });
            var before = await PollAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 300, TimeSpan.FromSeconds(90), "step 300", silos);
            Assert.Equal(MemberState.Running, before.State);

            int host = silos.FindIndex(s => s.Output.Contains($"Member {id} starts at step 0", StringComparison.Ordinal));
            Assert.True(host >= 0, "no silo says it runs the member");
            var survivor = silos[1 - host];
            int logBefore = survivor.Output.Length;
            Assert.True(await silos[host].TerminateAsync(TimeSpan.FromSeconds(60)), $"the silo did not exit within 60 s of SIGTERM:\n{silos[host].Output}");
            string stopped = silos[host].Output.Replace("\"", "", StringComparison.Ordinal);
            Assert.Contains("Silo stopping: suspending 1 training members", stopped);
            var checkpointed = Regex.Match(stopped, $@"Member {id} checkpointed at step (\d+)");
            Assert.True(checkpointed.Success, $"no checkpoint on shutdown:\n{stopped}");
            long suspendedAt = long.Parse(checkpointed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(suspendedAt >= before.Step, $"checkpointed at step {suspendedAt}, before the step {before.Step} seen earlier");

            var done = await PollAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), TimeSpan.FromSeconds(120), "the member to finish on the other silo", [survivor]);
            Assert.Equal(MemberState.Completed, done.State);
            Assert.Equal(1500, done.Step);
            // It carried on from exactly the step it stopped at: nothing lost, nothing replayed.
            string after = survivor.Output[logBefore..].Replace("\"", "", StringComparison.Ordinal);
            Assert.Contains($"Member {id} starts at step {suspendedAt} of 1500", after);
            output.WriteLine($"SIGTERM at step ≥ {before.Step}: checkpointed at {suspendedAt}, resumed on the other silo at {suspendedAt}");
        }
        finally
        {
            foreach (var s in silos) await s.DisposeAsync();
        }
    }

    /// <summary>Polls through a cluster that may be losing a silo: a failed call is retried until the deadline.</summary>
    private static async Task<T> PollAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, IReadOnlyList<SiloProcess> silos)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "no answer yet";
        while (true)
        {
            try
            {
                var value = await probe().WaitAsync(TimeSpan.FromSeconds(15));
                if (done(value)) return value;
                last = value is System.Collections.IEnumerable e and not string ? string.Join("; ", e.Cast<object>()) : $"{value}";
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or InvalidOperationException)
            {
                last = $"{e.GetType().Name}: {e.Message}";
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}; last: {last}\n"
                    + string.Join("\n", silos.Select((s, i) => $"--- silo {i} ---\n{Tail(s.Output, 6000)}")));
            await Task.Delay(200);
        }
    }

    private static string Tail(string text, int chars) => text.Length <= chars ? text : text[^chars..];
}

/// <summary>A client pointed at a cluster that is not there gets a clear error and exit code 3 within seconds.</summary>
[Collection(Specs.ConsoleCollection.Name)]
public class ClusterClientTests
{
    private static async Task<(int Code, string Error)> RunAsync(params string[] args)
    {
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try { return (await GanCluster.Client.Program.Main(args), error.ToString()); }
        finally { Console.SetError(previous); }
    }

    [Fact]
    public async Task A_Redis_that_does_not_answer_is_a_clear_error_with_code_3()
    {
        int port = SiloProcess.FreePort();
        var clock = Stopwatch.StartNew();
        var (code, error) = await RunAsync("status", "--cluster", $"redis://127.0.0.1:{port}");
        Assert.Equal(3, code);
        Assert.Contains($"cannot reach a GanCluster cluster through Redis at 127.0.0.1:{port}", error);
        // It gives up rather than hangs: within its connect timeout, with a wide margin for a loaded machine.
        var limit = GanCluster.Client.Hosting.ClusterConnection.ConnectTimeout($"redis://127.0.0.1:{port}") + TimeSpan.FromSeconds(60);
        Assert.True(clock.Elapsed < limit, $"took {clock.Elapsed}, more than {limit}");
    }

    [Fact]
    public async Task A_Redis_with_no_silo_in_it_is_a_clear_error_with_code_3()
    {
        await using var redis = await RedisServer.StartAsync();
        var (code, error) = await RunAsync("status", "--cluster", redis.Url);
        Assert.Equal(3, code);
        Assert.Contains($"cannot reach a GanCluster cluster through Redis at {redis.Address}", error);
    }
}

internal static class SiloStarts
{
    /// <summary>
    /// Waits for every silo to start; the ones that did start go into <paramref name="silos"/> even when another
    /// failed, so that the test's cleanup stops them all. (Only completed tasks are read: nothing blocks.)
    /// </summary>
    public static async Task StartAllAsync(List<Task<SiloProcess>> starting, List<SiloProcess> silos)
    {
        try { await Task.WhenAll(starting); }
        finally
        {
            foreach (var task in starting)
                if (task.IsCompletedSuccessfully) silos.Add(await task);
        }
    }
}
