using System.Text.Json;

namespace GanCluster.Tests.Observability;

/// <summary>The Prometheus configuration, alert rules and Grafana files of deploy/, checked by the real promtool.</summary>
public class DeployFileTests
{
    [Fact]
    public async Task Promtool_accepts_the_Prometheus_configuration_and_its_rule_file()
    {
        var (code, output) = await DeployFiles.RunToolAsync("promtool", ["check", "config", DeployFiles.PrometheusConfig]);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 1 rule files found", output);
    }

    [Fact]
    public async Task Promtool_accepts_the_alert_rules()
    {
        var (code, output) = await DeployFiles.RunToolAsync("promtool", ["check", "rules", DeployFiles.AlertRules]);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 5 rules found", output);
    }

    [Fact]
    public async Task The_alert_rule_unit_tests_pass_under_promtool()
    {
        var (code, output) = await DeployFiles.RunToolAsync("promtool", ["test", "rules", DeployFiles.AlertTests]);
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task The_alert_rule_unit_tests_fail_when_an_alert_rule_is_broken()
    {
        // The unit tests can fail: with the saturation threshold moved out of reach they report the missing alert.
        using var dir = new Support.TempDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "alerts.yml"), File.ReadAllText(DeployFiles.AlertRules).Replace("> 0.95", "> 0.999"));
        File.Copy(DeployFiles.AlertTests, Path.Combine(dir.Path, "alerts.test.yml"));
        var (code, output) = await DeployFiles.RunToolAsync("promtool", ["test", "rules", Path.Combine(dir.Path, "alerts.test.yml")]);
        Assert.NotEqual(0, code);
        Assert.Contains("GanDiscriminatorSaturated", output);
    }

    [Fact]
    public void Every_alert_of_the_brief_exists_and_has_a_unit_test_that_fires_it_and_one_that_does_not()
    {
        string tests = File.ReadAllText(DeployFiles.AlertTests);
        var alerts = DeployFiles.AlertExpressions().Select(e => e.Source["alert ".Length..]).ToList();
        Assert.Equal(["GanModeCollapse", "GanMemberDiverged", "GanDiscriminatorSaturated", "GanMemberNoProgress", "GanSiloDown"], alerts);
        foreach (var alert in alerts)
        {
            var blocks = tests.Split("alertname: " + alert).Skip(1).Select(b => b.Split("alertname:")[0].Split("- name:")[0]).ToList();
            Assert.True(blocks.Any(b => b.Contains("exp_alerts: []")), $"{alert}: no test that it stays silent");
            Assert.True(blocks.Any(b => b.Contains("exp_labels:")), $"{alert}: no test that it fires");
        }
    }

    [Fact]
    public void The_dashboards_are_provisioned_from_their_folder_and_query_the_provisioned_datasource()
    {
        string datasources = File.ReadAllText(Path.Combine(DeployFiles.Root, "grafana", "provisioning", "datasources", "prometheus.yml"));
        Assert.Contains("uid: gancluster-prometheus", datasources);
        Assert.Contains("type: prometheus", datasources);
        string providers = File.ReadAllText(Path.Combine(DeployFiles.Root, "grafana", "provisioning", "dashboards", "gancluster.yml"));
        Assert.Contains("type: file", providers);

        var uids = new HashSet<string>();
        foreach (var name in DeployFiles.DashboardNames)
        {
            using var doc = DeployFiles.Dashboard(name);
            var root = doc.RootElement;
            Assert.True(uids.Add(root.GetProperty("uid").GetString()!), $"{name}: duplicate uid");
            var panels = root.GetProperty("panels").EnumerateArray().ToList();
            Assert.NotEmpty(panels);
            Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
            foreach (var panel in panels)
            {
                string title = panel.GetProperty("title").GetString()!;
                Assert.Equal("gancluster-prometheus", panel.GetProperty("datasource").GetProperty("uid").GetString());
                var grid = panel.GetProperty("gridPos");
                Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
                var targets = panel.GetProperty("targets").EnumerateArray().ToList();
                Assert.True(targets.Count > 0, $"{name}/{title}: no query");
                Assert.Equal(targets.Count, targets.Select(t => t.GetProperty("refId").GetString()).Distinct().Count());
                Assert.All(targets, t => Assert.Equal("gancluster-prometheus", t.GetProperty("datasource").GetProperty("uid").GetString()));
            }
        }
        // The member view is of one member, chosen by a variable; the sweep view of one sweep.
        Assert.Contains(DeployFiles.DashboardExpressions(), e => e.Source == "member/$member");
        Assert.Contains(DeployFiles.DashboardExpressions(), e => e.Source == "sweep/$sweep");
        Assert.Contains(DeployFiles.DashboardExpressions(), e => e.Kind == "annotation" && e.PromQl.Contains("gancluster_pbt_exploits_total"));
    }

    [Fact]
    public void Metric_names_are_read_from_expressions_but_not_from_label_values()
    {
        var names = DeployFiles.MetricNames("histogram_quantile(0.95, sum by (le) (rate(gancluster_step_duration_seconds_bucket{job=\"gancluster_x\"}[5m]))) / orleans_catalog_activations");
        Assert.Equal(new HashSet<string> { "gancluster_step_duration_seconds_bucket", "orleans_catalog_activations" }, names);
    }
}
