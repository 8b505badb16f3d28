using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace GanCluster.Tests.Observability;

/// <summary>The monitoring files under deploy/ and the PromQL expressions they hold.</summary>
public static partial class DeployFiles
{
    public static string Root => Path.Combine(GanCluster.Gan.Data.RepositoryRoot.Require(), "deploy");

    public static string PrometheusConfig => Path.Combine(Root, "prometheus.yml");
    public static string AlertRules => Path.Combine(Root, "prometheus", "alerts.yml");
    public static string AlertTests => Path.Combine(Root, "prometheus", "alerts.test.yml");
    public static string DashboardsDirectory => Path.Combine(Root, "grafana", "dashboards");
    public static readonly string[] DashboardNames = ["cluster-overview", "sweep", "member"];

    public static JsonDocument Dashboard(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(DashboardsDirectory, name + ".json")));

    /// <summary>Where an expression comes from: "alert X", "dashboard/panel", "dashboard/variable", "dashboard/annotation".</summary>
    public sealed record Expression(string Source, string Kind, string PromQl);

    public static IReadOnlyList<Expression> AlertExpressions()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(AlertRules)) yaml.Load(reader);
        var list = new List<Expression>();
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        foreach (var group in ((YamlSequenceNode)root["groups"]).Cast<YamlMappingNode>())
            foreach (var rule in ((YamlSequenceNode)group["rules"]).Cast<YamlMappingNode>())
                list.Add(new Expression($"alert {((YamlScalarNode)rule["alert"]).Value}", "alert", ((YamlScalarNode)rule["expr"]).Value!));
        return list;
    }

    /// <summary>Every query of every dashboard: panel targets, template variable queries and annotation queries.</summary>
    public static IReadOnlyList<Expression> DashboardExpressions()
    {
        var list = new List<Expression>();
        foreach (var name in DashboardNames)
        {
            using var doc = Dashboard(name);
            var root = doc.RootElement;
            foreach (var panel in root.GetProperty("panels").EnumerateArray())
                if (panel.TryGetProperty("targets", out var targets))
                    foreach (var t in targets.EnumerateArray())
                        list.Add(new Expression($"{name}/{panel.GetProperty("title").GetString()}", "panel", t.GetProperty("expr").GetString()!));
            foreach (var v in root.GetProperty("templating").GetProperty("list").EnumerateArray())
                list.Add(new Expression($"{name}/${v.GetProperty("name").GetString()}", "variable", v.GetProperty("definition").GetString()!));
            foreach (var a in root.GetProperty("annotations").GetProperty("list").EnumerateArray())
                if (a.TryGetProperty("expr", out var expr))
                    list.Add(new Expression($"{name}/annotation {a.GetProperty("name").GetString()}", "annotation", expr.GetString()!));
        }
        return list;
    }

    /// <summary>
    /// The metric names an expression reads from the silos: identifiers of our meter (gancluster_*), Orleans' meter
    /// (orleans_*) and the .NET runtime meter (dotnet_*), wherever they stand in the expression. Label values and
    /// strings are removed first, so a quoted name is not taken for a metric. (up is Prometheus' own series.)
    /// </summary>
    public static IReadOnlySet<string> MetricNames(string promQl)
    {
        string withoutStrings = QuotedString().Replace(promQl, "\"\"");
        return MetricName().Matches(withoutStrings).Select(m => m.Value).ToHashSet();
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex QuotedString();

    [GeneratedRegex(@"(?<![A-Za-z0-9_:])(?:gancluster|orleans|dotnet)_[a-z0-9_]+")]
    private static partial Regex MetricName();

    /// <summary>
    /// The sample and family names of a Prometheus text exposition ("name{labels} value" lines and "# TYPE name" lines).
    /// </summary>
    public static IReadOnlySet<string> ExposedNames(string exposition)
    {
        var names = new HashSet<string>();
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal)) names.Add(line.Split(' ')[2]);
            else if (line.Length > 0 && line[0] != '#')
            {
                int end = line.IndexOfAny(['{', ' ']);
                if (end > 0) names.Add(line[..end]);
            }
        }
        return names;
    }

    /// <summary>Runs a tool to completion (bounded in time; killed if it overruns), feeding it stdin if given.</summary>
    public static async Task<(int ExitCode, string Output)> RunToolAsync(string tool, IEnumerable<string> arguments, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {tool}"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{tool} is not installed (Debian package 'prometheus'; .ci/run installs it): {e.Message}", e);
        }
        using (process)
        {
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin);
                process.StandardInput.Close();
            }
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
            try { await process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{tool} {string.Join(' ', arguments)} did not finish in time:\n{output}");
            }
            process.WaitForExit();
            lock (output) return (process.ExitCode, output.ToString());
        }
    }
}
