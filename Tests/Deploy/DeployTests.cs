using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using GanCluster.Silo;
using GanCluster.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static GanCluster.Tests.Deploy.DeployFiles;

namespace GanCluster.Tests.Deploy;

/// <summary>
/// Docker and Kubernetes do not run on the development machine; these tests check what can be checked without them:
/// the files parse, and the ports, addresses and settings they use agree with the silo's configuration and the README.
/// </summary>
public class DeployTests
{
    private static readonly GanSiloOptions Defaults = new();
    private static int DefaultMetricsPort => new Uri(GanSiloApp.DefaultUrl).Port;

    public static TheoryData<string> YamlFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(DeployDirectory, "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(DeployDirectory, file));
        return data;
    }

    [Theory]
    [MemberData(nameof(YamlFiles))]
    public void Every_yaml_file_under_deploy_parses(string file)
    {
        var documents = LoadYamlDocuments(PathOf(file));
        Assert.NotEmpty(documents);
        Assert.All(documents, d => Assert.IsType<Dictionary<object, object?>>(d));
    }

    // ---- compose.yaml ----

    private static Dictionary<object, object?> Compose => LoadYaml(PathOf("compose.yaml"));

    private static Dictionary<object, object?> Service(string name) => Map(At(Compose, "services", name), $"compose service {name}");

    private static Dictionary<string, string> Environment(Dictionary<object, object?> service, string what) =>
        Map(service["environment"], $"{what}.environment").ToDictionary(kv => kv.Key.ToString()!, kv => kv.Value?.ToString() ?? "");

    /// <summary>The silo's configuration as the container sees it: appsettings.json, then the environment.</summary>
    private static IConfiguration SiloConfiguration(IReadOnlyDictionary<string, string> environment) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(RepositoryRoot, "Silo", "appsettings.json"))
        .AddInMemoryCollection(environment.Where(kv => kv.Key.StartsWith("Gan__", StringComparison.Ordinal))
            .Select(kv => new KeyValuePair<string, string?>(ConfigurationKeys.FromEnvironment(kv.Key), kv.Value)))
        .Build();

    private static int PortOfUrl(string url) => new Uri(url.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("+", "127.0.0.1", StringComparison.Ordinal)).Port;

    [Fact]
    public void Compose_has_redis_with_append_only_two_silos_prometheus_and_grafana()
    {
        var services = Map(Compose["services"], "services");
        Assert.Equal(["grafana", "prometheus", "redis", "silo1", "silo2"], services.Keys.Select(k => k.ToString()!).Order(StringComparer.Ordinal));
        var command = string.Join(' ', List(Service("redis")["command"], "redis.command"));
        Assert.Contains("--appendonly yes", command);
        Assert.Contains("/data", string.Join(' ', List(Service("redis")["volumes"], "redis.volumes")));
    }

    [Theory]
    [InlineData("silo1")]
    [InlineData("silo2")]
    public void Each_compose_silo_joins_through_redis_with_settings_the_silo_reads(string name)
    {
        var silo = Service(name);
        var env = Environment(silo, name);
        Assert.Empty(ConfigurationKeys.UnknownIn(env.Keys, $"compose {name}"));

        // Redis: the compose service, on the port redis-server listens on.
        var redis = env["Gan__Cluster__Redis"].Split(':');
        Assert.Equal("redis", redis[0]);
        Assert.Equal(6379, int.Parse(redis[1], CultureInfo.InvariantCulture));
        Assert.Contains("redis", Map(silo["depends_on"], $"{name}.depends_on").Keys.Select(k => k.ToString()));

        // The advertised address is the silo's own fixed address on the compose network, inside its subnet.
        string ip = Text(silo, "networks", "gancluster", "ipv4_address")!;
        Assert.Equal(ip, env["Gan__Cluster__AdvertisedIp"]);
        string subnet = Text(List(At(Compose, "networks", "gancluster", "ipam", "config"), "ipam")[0], "subnet")!;
        Assert.True(IPNetwork.Parse(subnet).Contains(IPAddress.Parse(ip)), $"{ip} is outside {subnet}");
        Assert.Equal("0.0.0.0", env["Gan__Cluster__ListenIp"]);

        // Ports: the silo binds what the configuration says; compose publishes the gateway and metrics ports it binds.
        var options = SiloConfiguration(env).GetSection(GanSiloOptions.Section).Get<GanSiloOptions>()!;
        Assert.Equal(Defaults.SiloPort, options.SiloPort);
        Assert.Equal(Defaults.GatewayPort, options.GatewayPort);
        Assert.Equal(Defaults.ClusterId, options.ClusterId);
        Assert.Equal(Defaults.ServiceId, options.ServiceId);
        int metrics = PortOfUrl(env["ASPNETCORE_URLS"]);
        Assert.Equal(DefaultMetricsPort, metrics);
        var published = List(silo["ports"], $"{name}.ports").Select(p => p!.ToString()!.Split(':')).ToList();
        Assert.All(published, p => Assert.Equal("127.0.0.1", p[0])); // loopback of the Docker host only
        Assert.Contains(published, p => int.Parse(p[2], CultureInfo.InvariantCulture) == options.GatewayPort);
        Assert.Contains(published, p => int.Parse(p[2], CultureInfo.InvariantCulture) == metrics);

        // The image is the CPU Dockerfile, which exposes those ports.
        Assert.Equal("deploy/Dockerfile", Text(silo, "build", "dockerfile"));
        Assert.True(File.Exists(Path.GetFullPath(Path.Combine(DeployDirectory, Text(silo, "build", "context")!, Text(silo, "build", "dockerfile")!))));
    }

    [Fact]
    public void The_two_compose_silos_share_the_cluster_and_differ_in_address_and_published_ports()
    {
        var one = Environment(Service("silo1"), "silo1");
        var two = Environment(Service("silo2"), "silo2");
        Assert.Equal(one["Gan__Cluster__Redis"], two["Gan__Cluster__Redis"]);
        Assert.Equal(one["Gan__ClusterId"], two["Gan__ClusterId"]);
        Assert.Equal(one["Gan__ServiceId"], two["Gan__ServiceId"]);
        Assert.NotEqual(one["Gan__Cluster__AdvertisedIp"], two["Gan__Cluster__AdvertisedIp"]);
        var hostPorts = new[] { "silo1", "silo2", "redis", "prometheus", "grafana" }
            .SelectMany(s => List(Service(s)["ports"], $"{s}.ports").Select(p => p!.ToString()!.Split(':')[1])).ToList();
        Assert.Equal(hostPorts.Count, hostPorts.Distinct().Count());
    }

    [Fact]
    public void Compose_prometheus_scrapes_both_silos_with_the_same_job_as_the_local_configuration()
    {
        var volumes = List(Service("prometheus")["volumes"], "prometheus.volumes").Select(v => v!.ToString()!).ToList();
        string configMount = volumes.Single(v => v.EndsWith(":/etc/prometheus/prometheus.yml:ro", StringComparison.Ordinal));
        string configFile = Path.GetFullPath(Path.Combine(DeployDirectory, configMount.Split(':')[0]));
        Assert.True(File.Exists(configFile), configFile);
        Assert.Contains(volumes, v => v.StartsWith("./prometheus/alerts.yml:", StringComparison.Ordinal));

        var compose = LoadYaml(configFile);
        var local = LoadYaml(PathOf("prometheus.yml"));
        Assert.Equal(Text(local, "global", "scrape_interval"), Text(compose, "global", "scrape_interval"));
        var job = Map(List(compose["scrape_configs"], "scrape_configs").Single(), "job");
        var localJob = Map(List(local["scrape_configs"], "scrape_configs").Single(), "job");
        Assert.Equal(localJob["job_name"], job["job_name"]);
        Assert.Equal(localJob["metrics_path"], job["metrics_path"]);
        var targets = List(At(List(job["static_configs"], "static_configs")[0], "targets"), "targets").Select(t => t!.ToString()).ToList();
        Assert.Equal(["silo1:9464", "silo2:9464"], targets);
        foreach (var silo in new[] { "silo1", "silo2" })
            Assert.Contains($"{silo}:{PortOfUrl(Environment(Service(silo), silo)["ASPNETCORE_URLS"])}", targets);
        Assert.Equal([$"127.0.0.1:{DefaultMetricsPort}"], List(At(List(localJob["static_configs"], "static_configs")[0], "targets"), "targets").Select(t => t!.ToString()));
    }

    [Fact]
    public void Both_prometheus_configurations_pass_promtool()
    {
        // promtool comes with Debian's prometheus package (installed on the development machine); without it, say so.
        string? promtool = Environment_("PATH")?.Split(':').Select(d => Path.Combine(d, "promtool")).FirstOrDefault(File.Exists);
        Assert.True(promtool is not null, "promtool is not on PATH (apt-get install prometheus): cannot check the Prometheus configurations");
        foreach (var file in new[] { "prometheus.yml", "prometheus.compose.yml" })
        {
            var info = new ProcessStartInfo(promtool!, ["check", "config", PathOf(file)]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(info)!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            Assert.True(process.WaitForExit(30_000), "promtool did not finish");
            Assert.True(process.ExitCode == 0, $"promtool check config {file}:\n{output}");
        }
    }

    private static string? Environment_(string name) => System.Environment.GetEnvironmentVariable(name);

    [Fact]
    public void Compose_grafana_mounts_the_provisioning_and_dashboards_folders()
    {
        var volumes = List(Service("grafana")["volumes"], "grafana.volumes").Select(v => v!.ToString()!).ToList();
        Assert.Contains("./grafana/provisioning:/etc/grafana/provisioning:ro", volumes);
        // The dashboards go where the provisioned dashboard provider looks for them.
        string provider = File.ReadAllText(Path.Combine(RepositoryRoot, "deploy", "grafana", "provisioning", "dashboards", "gancluster.yml"));
        string path = Regex.Match(provider, @"path:\s*(\S+)").Groups[1].Value;
        Assert.Contains($"./grafana/dashboards:{path}:ro", volumes);
        Assert.Contains("prometheus", List(Service("grafana")["depends_on"], "grafana.depends_on").Select(d => d!.ToString()));
        // The provisioned datasource's address comes from the environment; compose points it at its Prometheus service.
        string datasource = File.ReadAllText(Path.Combine(RepositoryRoot, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"));
        Assert.Contains("url: ${GANCLUSTER_PROMETHEUS_URL}", datasource);
        var environment = (System.Collections.IDictionary)Service("grafana")["environment"]!;
        Assert.Equal("http://prometheus:9090", environment["GANCLUSTER_PROMETHEUS_URL"]?.ToString());
    }

    // ---- Dockerfiles ----

    public static TheoryData<string, string> Dockerfiles => new() { { "Dockerfile", "cpu" }, { "Dockerfile.cuda", "cuda" } };

    private static string SiloAssemblyName =>
        Regex.Match(File.ReadAllText(Path.Combine(RepositoryRoot, "Silo", "Silo.csproj")), "<AssemblyName>([^<]+)</AssemblyName>").Groups[1].Value;

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_dockerfile_builds_the_silo_from_files_that_exist_and_runs_its_assembly(string file, string backend)
    {
        var lines = Dockerfile(PathOf(file));
        Assert.Equal(2, lines.Count(l => l.Instruction == "FROM"));
        Assert.Contains(lines, l => l.Instruction == "FROM" && l.Arguments.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0", StringComparison.Ordinal) && l.Arguments.EndsWith(" AS build", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Instruction == "FROM" && l.Arguments.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", StringComparison.Ordinal));
        foreach (var (_, arguments) in lines.Where(l => l.Instruction == "COPY" && !l.Arguments.StartsWith("--from", StringComparison.Ordinal)))
        {
            var parts = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var source in parts[..^1])
                Assert.True(File.Exists(Path.Combine(RepositoryRoot, source)) || Directory.Exists(Path.Combine(RepositoryRoot, source)), $"{file}: COPY {source} does not exist in the repository");
        }
        var publish = lines.Single(l => l.Instruction == "RUN" && l.Arguments.StartsWith("dotnet publish", StringComparison.Ordinal)).Arguments;
        var restore = lines.Single(l => l.Instruction == "RUN" && l.Arguments.StartsWith("dotnet restore", StringComparison.Ordinal)).Arguments;
        Assert.Contains("Silo/Silo.csproj", publish);
        Assert.Contains("-c Release", publish);
        Assert.Equal(backend == "cuda", publish.Contains("-p:TorchBackend=cuda", StringComparison.Ordinal));
        Assert.Equal(backend == "cuda", restore.Contains("-p:TorchBackend=cuda", StringComparison.Ordinal));
        Assert.Equal($"[\"dotnet\", \"{SiloAssemblyName}.dll\"]", lines.Single(l => l.Instruction == "ENTRYPOINT").Arguments);

        // The exposed ports are the silo's defaults; the environment names settings the silo reads.
        var exposed = lines.Where(l => l.Instruction == "EXPOSE").SelectMany(l => l.Arguments.Split(' ')).Select(int.Parse).Order().ToList();
        Assert.Equal(new[] { Defaults.SiloPort, Defaults.GatewayPort, DefaultMetricsPort }.Order(), exposed);
        var env = lines.Where(l => l.Instruction == "ENV").SelectMany(l => Regex.Matches(l.Arguments, @"(\S+?)=(\S+)").Select(m => (m.Groups[1].Value, m.Groups[2].Value))).ToDictionary();
        Assert.Empty(ConfigurationKeys.UnknownIn(env.Keys, file));
        Assert.Equal(DefaultMetricsPort, PortOfUrl(env["ASPNETCORE_URLS"]));
        if (backend == "cuda") Assert.Equal("cuda", env["Gan__Compute__Device"]);
    }

    [Fact]
    public void The_cuda_switch_the_dockerfile_uses_exists_in_the_build()
    {
        string props = File.ReadAllText(Path.Combine(RepositoryRoot, "Directory.Build.props"));
        string grains = File.ReadAllText(Path.Combine(RepositoryRoot, "Grains", "Gan", "Gan.csproj"));
        Assert.Contains("<TorchBackend Condition=\"'$(TorchBackend)' == ''\">cpu</TorchBackend>", props);
        Assert.Contains("<PackageReference Include=\"TorchSharp-cuda-linux\" Condition=\"'$(TorchBackend)' == 'cuda'\" />", grains);
        Assert.Contains("<PackageReference Include=\"libtorch-cpu-linux-x64\" Condition=\"'$(TorchBackend)' == 'cpu'\" />", grains);
    }

    /// <summary>The README's Deploying section, from its heading to the next one of the same level.</summary>
    private static string DeployingSection()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        int start = readme.IndexOf("\n## Deploying", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no '## Deploying' section");
        int end = readme.IndexOf("\n## ", start + 5, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    }

    /// <summary>A dotnet command without the options that only matter inside the image (--no-restore, -o DIR).</summary>
    private static string Normalise(string command) =>
        Regex.Replace(Regex.Replace(command, @"\s--no-restore\b", ""), @"\s-o\s+\S+", "").Trim();

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void The_dockerfile_publish_command_is_the_one_the_readme_shows(string file, string backend)
    {
        string section = DeployingSection();
        string publish = Normalise(Dockerfile(PathOf(file)).Single(l => l.Instruction == "RUN" && l.Arguments.StartsWith("dotnet publish", StringComparison.Ordinal)).Arguments);
        var shown = Regex.Matches(section, @"dotnet publish [^\n`#]+").Select(m => Normalise(m.Value)).ToList();
        Assert.True(shown.Contains(publish), $"{file} ({backend}) publishes with '{publish}'; the README's Deploying section shows: {string.Join(" | ", shown)}");
        Assert.Contains($"docker build -f deploy/{file}", section);
    }

    [Fact]
    public void The_readme_says_what_was_run_here_and_what_was_not()
    {
        string section = DeployingSection();
        Assert.Contains("Not run here", section);
        Assert.Contains("Run here", section);
    }

    // ---- Kubernetes ----

    private static List<Dictionary<object, object?>> KubernetesObjects() =>
        Directory.EnumerateFiles(PathOf("k8s"), "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml")
            .SelectMany(f => LoadYamlDocuments(f).Select((d, i) => Map(d, $"{Path.GetFileName(f)} document {i}"))).ToList();

    private static Dictionary<object, object?> KubernetesObject(string kind, string name) =>
        KubernetesObjects().Single(o => Text(o, "kind") == kind && Text(o, "metadata", "name") == name);

    private static Dictionary<object, object?> Container(Dictionary<object, object?> workload) =>
        Map(List(At(workload, "spec", "template", "spec", "containers"), "containers").Single(), "container");

    private static Dictionary<string, object?> EnvOf(Dictionary<object, object?> container) =>
        List(container["env"], "env").Select(e => Map(e, "env entry")).ToDictionary(e => e["name"]!.ToString()!, e => e.GetValueOrDefault("value") ?? e.GetValueOrDefault("valueFrom"));

    [Fact]
    public void The_kustomization_lists_every_manifest_and_each_object_is_named()
    {
        var listed = List(LoadYaml(PathOf("k8s", "kustomization.yaml"))["resources"], "resources").Select(r => r!.ToString()!).Order(StringComparer.Ordinal);
        var files = Directory.EnumerateFiles(PathOf("k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal);
        Assert.Equal(files, listed);
        Assert.All(KubernetesObjects(), o =>
        {
            Assert.False(string.IsNullOrEmpty(Text(o, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Text(o, "kind")));
            Assert.False(string.IsNullOrEmpty(Text(o, "metadata", "name")));
        });
    }

    public static TheoryData<string, string, bool> SiloWorkloads => new()
    {
        { "StatefulSet", "gancluster-silo-gpu", true },
        { "Deployment", "gancluster-silo-cpu", false },
    };

    [Theory]
    [MemberData(nameof(SiloWorkloads))]
    public void Kubernetes_silos_use_kubernetes_hosting_redis_and_settings_the_silo_reads(string kind, string name, bool gpu)
    {
        var workload = KubernetesObject(kind, name);
        var container = Container(workload);
        var env = EnvOf(container);
        Assert.Empty(ConfigurationKeys.UnknownIn(env.Keys, name));

        // Orleans' Kubernetes hosting: switched on, fed by the downward API, ids equal to the pod labels and Gan's ids.
        Assert.Equal("true", env[ConfigurationKeys.FromEnvironment(KubernetesHosting.Key).Replace(":", "__", StringComparison.Ordinal)]?.ToString());
        Assert.Equal("metadata.name", Text(env["POD_NAME"], "fieldRef", "fieldPath"));
        Assert.Equal("metadata.namespace", Text(env["POD_NAMESPACE"], "fieldRef", "fieldPath"));
        Assert.Equal("status.podIP", Text(env["POD_IP"], "fieldRef", "fieldPath"));
        Assert.Equal("$(POD_IP)", env["Gan__Cluster__AdvertisedIp"]?.ToString());
        var labels = Map(At(workload, "spec", "template", "metadata", "labels"), "labels");
        Assert.Equal(env["ORLEANS_CLUSTER_ID"]?.ToString(), labels["orleans/clusterId"]?.ToString());
        Assert.Equal(env["ORLEANS_SERVICE_ID"]?.ToString(), labels["orleans/serviceId"]?.ToString());
        Assert.Equal(env["ORLEANS_CLUSTER_ID"]?.ToString(), env["Gan__ClusterId"]?.ToString());
        Assert.Equal(env["ORLEANS_SERVICE_ID"]?.ToString(), env["Gan__ServiceId"]?.ToString());
        var serviceAccount = Text(workload, "spec", "template", "spec", "serviceAccountName");
        var role = KubernetesObject("Role", serviceAccount!);
        var verbs = List(At(List(role["rules"], "rules").Single(), "verbs"), "verbs").Select(v => v!.ToString()).ToList();
        Assert.Contains("delete", verbs);
        Assert.Contains("watch", verbs);
        Assert.Equal(serviceAccount, Text(List(KubernetesObject("RoleBinding", serviceAccount!)["subjects"], "subjects").Single(), "name"));

        // Redis: the service and port that the Redis manifest defines.
        var redis = env["Gan__Cluster__Redis"]!.ToString()!.Split(':');
        var redisService = KubernetesObject("Service", redis[0]);
        Assert.Contains(List(At(redisService, "spec", "ports"), "ports"), p => Text(p, "port") == redis[1]);
        Assert.Contains("--appendonly", List(Container(KubernetesObject("StatefulSet", "redis"))["args"], "args").Select(a => a!.ToString()));

        // Ports: container ports = the configured ones; the metrics annotations name the port /metrics is served on.
        var ports = List(container["ports"], "ports").Select(p => Map(p, "port")).ToDictionary(p => p["name"]!.ToString()!, p => int.Parse(p["containerPort"]!.ToString()!, CultureInfo.InvariantCulture));
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(RepositoryRoot, "Silo", "appsettings.json"))
            .AddInMemoryCollection(env.Where(e => e.Key.StartsWith("Gan__", StringComparison.Ordinal) && e.Value is string)
                .Select(e => new KeyValuePair<string, string?>(ConfigurationKeys.FromEnvironment(e.Key), e.Value!.ToString())))
            .Build();
        var options = configuration.GetSection(GanSiloOptions.Section).Get<GanSiloOptions>()!;
        Assert.Equal(options.SiloPort, ports["silo"]);
        Assert.Equal(options.GatewayPort, ports["gateway"]);
        int metrics = PortOfUrl(env["ASPNETCORE_URLS"]!.ToString()!);
        Assert.Equal(metrics, ports["metrics"]);
        var annotations = Map(At(workload, "spec", "template", "metadata", "annotations"), "annotations");
        Assert.Equal("true", annotations["prometheus.io/scrape"]?.ToString());
        Assert.Equal(metrics.ToString(CultureInfo.InvariantCulture), annotations["prometheus.io/port"]?.ToString());
        Assert.Equal("/metrics", annotations["prometheus.io/path"]?.ToString());
        Assert.Equal("/health", Text(container, "readinessProbe", "httpGet", "path"));

        // GPU silos ask for a GPU (requests = limits, as Kubernetes requires for extended resources); the CPU one does not.
        var requests = Map(At(container, "resources", "requests"), "requests");
        var limits = Map(At(container, "resources", "limits"), "limits");
        if (gpu)
        {
            Assert.Equal("1", requests["nvidia.com/gpu"]?.ToString());
            Assert.Equal("1", limits["nvidia.com/gpu"]?.ToString());
            Assert.Equal("cuda", env["Gan__Compute__Device"]?.ToString());
            Assert.EndsWith(":cuda", Text(container, "image"));
            Assert.Contains(List(At(workload, "spec", "template", "spec", "tolerations"), "tolerations"), t => Text(t, "key") == "nvidia.com/gpu");
        }
        else
        {
            Assert.False(requests.ContainsKey("nvidia.com/gpu") || limits.ContainsKey("nvidia.com/gpu"));
            Assert.Equal("true", env["Gan__Compute__CoordinationOnly"]?.ToString());
            Assert.EndsWith(":cpu", Text(container, "image"));
        }
        Assert.True(int.Parse(Text(workload, "spec", "template", "spec", "terminationGracePeriodSeconds")!, CultureInfo.InvariantCulture) >= 30);
    }

    [Fact]
    public void The_gateway_service_selects_the_silos_on_their_gateway_port()
    {
        var gateway = KubernetesObject("Service", "gancluster-gateway");
        var selector = Map(At(gateway, "spec", "selector"), "selector");
        foreach (var (kind, name, _) in new[] { ("StatefulSet", "gancluster-silo-gpu", true), ("Deployment", "gancluster-silo-cpu", false) })
        {
            var labels = Map(At(KubernetesObject(kind, name), "spec", "template", "metadata", "labels"), "labels");
            Assert.All(selector, kv => Assert.Equal(kv.Value, labels.GetValueOrDefault(kv.Key)));
        }
        var port = Map(List(At(gateway, "spec", "ports"), "ports").Single(), "port");
        Assert.Equal(Defaults.GatewayPort.ToString(CultureInfo.InvariantCulture), port["port"]?.ToString());
        Assert.Equal("gateway", port["targetPort"]?.ToString());
    }

    // ---- the silo's Kubernetes switch ----

    [Theory]
    [InlineData(null, false)]
    [InlineData("false", false)]
    [InlineData("true", true)]
    public void Kubernetes_hosting_is_added_only_when_switched_on(string? value, bool expected)
    {
        // The silo's own wiring (GanSiloApp.AddGanSilo), with the switch on its command line as a deployment would give it.
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(value is null ? [] : [$"--{KubernetesHosting.Key}", value]);
        builder.AddGanSilo();
        bool added = builder.Services.Any(d => (d.ImplementationType ?? d.ServiceType).Namespace == "Orleans.Hosting.Kubernetes");
        Assert.Equal(expected, added);
    }

    [Fact]
    public void A_kubernetes_switch_that_is_not_a_boolean_is_refused_naming_the_key()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [KubernetesHosting.Key] = "yes" });
        var e = Assert.ThrowsAny<Exception>(() => builder.UseOrleans(silo => silo.UseGanKubernetesHosting(builder.Configuration)));
        Assert.Contains("Gan:Cluster:Kubernetes must be true or false, got 'yes'", e.Message);
    }
}
