using System.Diagnostics.Metrics;
using System.Text.Json;
using GanCluster.Grains.Telemetry;
using GanCluster.Tests.Processes;
using Microsoft.Extensions.DependencyInjection;

namespace GanCluster.Tests.Observability;

/// <summary>
/// The metrics, dashboards, alerts and logs against a real silo process that trains (a PBT sweep and a lone member),
/// the real promtool and a real Prometheus server.
/// </summary>
[Collection(ProcessCollection.Name)]
public class LiveObservabilityTests(TrainingSilo training) : IClassFixture<TrainingSilo>
{
    [Fact]
    public async Task Promtool_check_metrics_finds_nothing_to_report_about_a_training_silos_GanCluster_metrics()
    {
        string scrape = await training.Silo.ScrapeAsync();
        Assert.Contains("\ngancluster_member_step{", scrape);
        var (_, output) = await DeployFiles.RunToolAsync("promtool", ["check", "metrics"], stdin: scrape);
        Assert.DoesNotContain("error while linting", output);
        // promtool exits non-zero for Orleans' and the runtime's own metrics (no help text, milliseconds, *_count
        // gauges), which are not ours to fix; ours must draw no remark.
        var ours = output.Split('\n').Where(l => l.StartsWith("gancluster_", StringComparison.Ordinal)).ToList();
        Assert.True(ours.Count == 0, "promtool on gancluster_* metrics:\n" + string.Join('\n', ours));

        // Every GanCluster metric family carries a description.
        var families = scrape.Split('\n').Where(l => l.StartsWith("# TYPE gancluster_", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]).ToList();
        Assert.True(families.Count >= 25, $"only {families.Count} gancluster families: {string.Join(", ", families)}");
        foreach (var family in families)
            Assert.Matches($"\n# HELP {family} \\S", "\n" + scrape);
    }

    [Fact]
    public async Task Every_metric_a_dashboard_or_an_alert_reads_is_exposed_by_a_training_silo()
    {
        var expressions = DeployFiles.DashboardExpressions().Concat(DeployFiles.AlertExpressions()).ToList();
        var used = expressions.SelectMany(e => DeployFiles.MetricNames(e.PromQl).Select(n => (Name: n, e.Source))).ToList();
        Assert.True(used.Select(u => u.Name).Distinct().Count() >= 25, "the expressions name too few metrics: " + string.Join(", ", used.Select(u => u.Name).Distinct()));

        var exposed = DeployFiles.ExposedNames(await training.Silo.ScrapeAsync());
        var missing = used.Where(u => !exposed.Contains(u.Name)).Select(u => $"{u.Name} (in {u.Source})").Distinct().ToList();
        Assert.True(missing.Count == 0, "read by a dashboard or alert but not exposed by the silo:\n" + string.Join('\n', missing));
    }

    [Fact]
    public async Task A_real_Prometheus_server_scrapes_a_training_silo_and_every_dashboard_query_returns_data()
    {
        await using var prometheus = await PrometheusServer.StartAsync([$"127.0.0.1:{training.Silo.HttpPort}"], TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);

        // A training metric arrives through the scrape, labelled by member.
        JsonElement step;
        while ((step = await prometheus.QueryAsync($"gancluster_member_step{{member=\"{TrainingSilo.MemberId}\"}}")).GetProperty("result").GetArrayLength() == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no gancluster_member_step series in Prometheus:\n" + prometheus.Output);
            await Task.Delay(500);
        }
        var series = step.GetProperty("result")[0];
        Assert.Equal("none", series.GetProperty("metric").GetProperty("sweep").GetString());
        Assert.Equal("0", series.GetProperty("metric").GetProperty("population").GetString());
        Assert.True(double.Parse(series.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        var up = (await prometheus.QueryAsync("up{job=\"gancluster-silo\"}")).GetProperty("result");
        Assert.Equal("1", up[0].GetProperty("value")[1].GetString());
        Assert.Equal(["GanModeCollapse", "GanMemberDiverged", "GanDiscriminatorSaturated", "GanMemberNoProgress", "GanSiloDown"],
            await prometheus.AlertRuleNamesAsync());

        // Every dashboard query, with its variables set to the training sweep and member, is valid PromQL that returns
        // data; annotation and alert expressions are valid PromQL (alerts are expected to be silent).
        var pending = new List<string>();
        do
        {
            pending.Clear();
            foreach (var e in DeployFiles.DashboardExpressions().Concat(DeployFiles.AlertExpressions()))
            {
                var data = await prometheus.QueryAsync(Instantiate(e));
                if (e.Kind is "panel" or "variable" && data.GetProperty("result").GetArrayLength() == 0)
                    pending.Add($"{e.Source}: {e.PromQl}");
            }
            if (pending.Count > 0) await Task.Delay(1000);
        }
        while (pending.Count > 0 && DateTime.UtcNow < deadline);
        Assert.True(pending.Count == 0, "dashboard queries without data:\n" + string.Join('\n', pending));
    }

    private string Instantiate(DeployFiles.Expression e)
    {
        string promQl = e.PromQl;
        // A variable's label_values(SELECTOR, label) is Grafana's; the selector inside is PromQL.
        if (e.Kind == "variable" && promQl.StartsWith("label_values(", StringComparison.Ordinal))
            promQl = promQl["label_values(".Length..promQl.LastIndexOf(',')];
        bool memberView = e.Source.StartsWith("member/", StringComparison.Ordinal);
        return promQl
            .Replace("$__rate_interval", "1m").Replace("$__interval", "15s")
            .Replace("$sweep", TrainingSilo.SweepId)
            .Replace("$member", memberView ? training.SweepMember : TrainingSilo.MemberId);
    }

    [Fact]
    public void Json_log_lines_about_members_carry_sweep_population_member_and_step()
    {
        var lines = training.Silo.Output.Split('\n').Where(l => l.StartsWith('{')).ToList();
        Assert.NotEmpty(lines);
        var events = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(lines, l => Assert.True(l.Length < 4096, $"a log line of {l.Length} characters (tensors must never be logged): {l[..Math.Min(200, l.Length)]}"));

        // Every line of the member-lifecycle messages (coordinator, sweep and population) carries the four fields.
        var aboutMembers = events.Where(e => e.TryGetProperty("SourceContext", out var c)
            && c.GetString() is "GanCluster.Grains.Members.CoordinatorGrain" or "GanCluster.Grains.Sweeps.SweepGrain" or "GanCluster.Grains.Sweeps.PopulationGrain"
            && e.TryGetProperty("MemberId", out _)).ToList();
        Assert.True(aboutMembers.Count >= 4, $"only {aboutMembers.Count} member log lines:\n{training.Silo.Output}");
        foreach (var e in aboutMembers)
            foreach (var field in new[] { "SweepId", "Population", "MemberId", "Step" })
                Assert.True(e.TryGetProperty(field, out _), $"no {field} on: {e}");

        var alone = aboutMembers.First(e => e.GetProperty("MemberId").GetString() == TrainingSilo.MemberId && e.GetProperty("@mt").GetString()!.Contains("evaluated"));
        Assert.Equal("none", alone.GetProperty("SweepId").GetString());
        Assert.Equal("0", alone.GetProperty("Population").GetString());
        Assert.True(alone.GetProperty("Step").GetInt64() > 0);

        var inSweep = aboutMembers.First(e => e.GetProperty("MemberId").GetString() == training.SweepMember && e.GetProperty("@mt").GetString()!.Contains("evaluated"));
        Assert.Equal(TrainingSilo.SweepId, inSweep.GetProperty("SweepId").GetString());
        Assert.Equal("0", inSweep.GetProperty("Population").GetString());

        // The population's own line about an exploit carries the member's population too.
        var exploit = aboutMembers.First(e => e.GetProperty("SourceContext").GetString() == "GanCluster.Grains.Sweeps.PopulationGrain" && e.GetProperty("@mt").GetString()!.Contains("exploits"));
        Assert.Equal("0", exploit.GetProperty("Population").GetString());
    }
}

public class GanMetricsInstrumentTests
{
    [Fact]
    public void Every_GanCluster_instrument_has_a_unit_and_a_description()
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var instruments = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) => { if (instrument.Meter.Name == GanMetrics.MeterName) lock (instruments) instruments.Add(instrument); },
        };
        listener.Start();
        using var metrics = new GanMetrics(services.GetRequiredService<IMeterFactory>());
        Assert.True(instruments.Count >= 30, $"{instruments.Count} instruments");
        foreach (var i in instruments)
        {
            Assert.False(string.IsNullOrWhiteSpace(i.Unit), $"{i.Name} has no unit");
            Assert.False(string.IsNullOrWhiteSpace(i.Description), $"{i.Name} has no description");
            Assert.StartsWith("gancluster.", i.Name);
        }
    }
}

public class CounterStartTests
{
    [Fact]
    public void A_members_counters_start_at_zero_when_it_first_appears_so_increase_sees_the_first_event()
    {
        var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        // Other tests' silos in this process publish on the same meter name: keep only this test's member.
        var labels = new MemberLabels("sweep", "0", $"sweep-p0-m{Guid.NewGuid():N}");
        var seen = new List<(string Name, long Value, string? Member)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == GanMetrics.MeterName && instrument is Counter<long>) l.EnableMeasurementEvents(instrument); },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? member = null;
            foreach (var t in tags) if (t.Key == "member") member = t.Value as string;
            if (member == labels.Member) lock (seen) seen.Add((instrument.Name, value, member));
        });
        listener.Start();
        using var metrics = new GanMetrics(services.GetRequiredService<IMeterFactory>());
        metrics.PbtMemberStarted(labels);
        var status = new GanCluster.Contracts.Members.MemberStatus { MemberId = labels.Member, State = GanCluster.Contracts.Members.MemberState.Running };
        metrics.Publish(labels, status);
        metrics.Publish(labels, status);
        metrics.Exploited(labels, explored: true);
        Assert.Equal([("gancluster.pbt.exploits", 0L, labels.Member), ("gancluster.pbt.explores", 0L, labels.Member), ("gancluster.member.steps", 0L, labels.Member),
            ("gancluster.pbt.exploits", 1L, labels.Member), ("gancluster.pbt.explores", 1L, labels.Member)], Snapshot());
        List<(string, long, string?)> Snapshot() { lock (seen) return [.. seen]; }
    }
}

public class MemberLabelTests
{
    [Theory]
    [InlineData("ring", "ring-p0-m3", "0")]
    [InlineData("ring", "ring-p12-m40", "12")]
    [InlineData("ring", "ring2-p1-m0", "0")]
    [InlineData("a-p1", "a-p1-p2-m5", "2")]
    [InlineData("ring", "ring-px-m1", "0")]
    public void A_sweep_members_population_label_is_read_back_from_its_planned_id(string sweep, string member, string population) =>
        Assert.Equal(population, GanCluster.Gan.Specs.SweepPlanner.PopulationOf(sweep, member));

    [Fact]
    public void Planned_member_ids_give_back_their_population()
    {
        var spec = Support.TestSpecs.SmallRing() with
        {
            Search = new GanCluster.Gan.Specs.SearchSpec
            {
                Strategy = "random", Populations = 3, MembersPerPopulation = 2, Concurrency = 2,
                Space = new() { ["optimizer.generatorLr"] = new() { LogUniform = [1e-4, 1e-2] } },
            },
        };
        foreach (var plan in GanCluster.Gan.Specs.SweepPlanner.Plan("s", spec))
            Assert.Equal(plan.Population.ToString(System.Globalization.CultureInfo.InvariantCulture), GanCluster.Gan.Specs.SweepPlanner.PopulationOf("s", plan.MemberId));
    }
}
