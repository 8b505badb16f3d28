using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using GanCluster.Client.Hosting;
using GanCluster.Contracts.Members;
using GanCluster.Silo.Hosting;
using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace GanCluster.Tests.Processes;

/// <summary>
/// A real silo process with Gan:Dashboard on and a member training on it: Orleans' dashboard answers on its own
/// loopback port with this silo, the GAN's grains and their calls, and headless Chromium renders it.
/// </summary>
[Collection(ProcessCollection.Name)]
public class DashboardProcessTests(DashboardProcessTests.TrainingSilo silo) : IClassFixture<DashboardProcessTests.TrainingSilo>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_dashboard_serves_its_page_and_an_API_with_this_silo_and_the_GAN_grains_and_their_calls_on_its_own_port_only()
    {
        using var http = new HttpClient { BaseAddress = silo.Dashboard, Timeout = TimeSpan.FromSeconds(10) };
        var page = await http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<title>Orleans Dashboard</title>", await page.Content.ReadAsStringAsync());

        // Its API: this silo, active, and the member's coordinator and workers, with the calls between them.
        var counters = await Eventually.WaitAsync(async () => JsonNode.Parse(await http.GetStringAsync("/DashboardCounters"))!,
            c => CallsTo(c, "GeneratorWorkerGrain") > 0 && CallsTo(c, "DiscriminatorWorkerGrain") > 0, Timeout, "the dashboard to count calls to the workers");
        var host = Assert.Single(counters["hosts"]!.AsArray());
        Assert.StartsWith($"127.0.0.1:{silo.SiloPort}@", (string)host!["siloAddress"]!);
        Assert.Equal("Active", (string)host["status"]!);
        var grains = counters["simpleGrainStats"]!.AsArray().Select(g => (string)g!["grainType"]!).ToArray();
        foreach (var type in new[] { "GanCluster.Grains.Members.CoordinatorGrain", "GanCluster.Grains.Workers.GeneratorWorkerGrain", "GanCluster.Grains.Workers.DiscriminatorWorkerGrain" })
            Assert.Contains(type, grains);
        var top = JsonNode.Parse(await http.GetStringAsync("/TopGrainMethods"))!;
        Assert.Contains(top["calls"]!.AsArray(), m => (string)m!["grain"]! == "GanCluster.Grains.Workers.GeneratorWorkerGrain" && (long)m["count"]! > 0);

        // The log stream is off (the silo logs through Serilog and its secret redaction, not the dashboard's provider).
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync("/Trace")).StatusCode);

        // The /metrics port does not serve the dashboard, and the dashboard's port is loopback.
        using var metrics = new HttpClient { BaseAddress = silo.Process.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.GetAsync("/DashboardCounters")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await metrics.GetAsync("/health")).StatusCode);
    }

    [ChromiumFact]
    public async Task Headless_Chromium_renders_the_dashboard_with_the_GAN_grains_and_takes_a_screenshot()
    {
        string chromium = Chromium.Path ?? throw new InvalidOperationException(
            "chromium is not installed; .ci/run installs it (apt-get install chromium)");
        using var http = new HttpClient { BaseAddress = silo.Dashboard, Timeout = TimeSpan.FromSeconds(10) };
        await Eventually.WaitAsync(async () => JsonNode.Parse(await http.GetStringAsync("/DashboardCounters"))!,
            c => CallsTo(c, "GeneratorWorkerGrain") > 0, Timeout, "the dashboard to count calls");
        using var profile = new TempDirectory();

        // The grains page as the browser builds it from the API: the GAN's grain types are listed.
        string dom = await Chromium.RunAsync(chromium, profile.Path, "--dump-dom", new Uri(silo.Dashboard, "#/grains"));
        Assert.Contains("Activations by Type", dom);
        Assert.Contains("CoordinatorGrain", dom);
        Assert.Contains("GeneratorWorkerGrain", dom);

        // The overview, as a picture: a 1400×900 PNG with something on it (a blank page compresses to a few KB).
        string png = Path.Combine(profile.Path, "orleans-dashboard.png");
        await Chromium.RunAsync(chromium, profile.Path, $"--screenshot={png}", silo.Dashboard);
        Assert.True(File.Exists(png), $"no screenshot at {png}");
        byte[] bytes = await File.ReadAllBytesAsync(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.Equal(1400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal(900, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        Assert.True(bytes.Length > 30_000, $"the screenshot is {bytes.Length} bytes: nearly blank");
        // GANCLUSTER_DASHBOARD_SCREENSHOT=PATH keeps it (docs/images/orleans-dashboard.png was taken so).
        if (Environment.GetEnvironmentVariable("GANCLUSTER_DASHBOARD_SCREENSHOT") is { Length: > 0 } keep) File.Copy(png, keep, overwrite: true);
    }

    private static long CallsTo(JsonNode counters, string grain) =>
        counters["simpleGrainStats"]!.AsArray().Where(g => ((string)g!["grainType"]!).EndsWith("." + grain, StringComparison.Ordinal))
            .Sum(g => (long)g!["totalCalls"]!);

    /// <summary>A silo process with the dashboard on a free loopback port, and a member training on it until the silo is killed.</summary>
    public sealed class TrainingSilo : IAsyncLifetime
    {
        private readonly TempDirectory data = new();
        private ClusterConnection? client;

        public SiloProcess Process { get; private set; } = null!;
        public int SiloPort { get; } = SiloProcess.FreePort();
        public Uri Dashboard { get; } = new($"http://127.0.0.1:{SiloProcess.FreePort()}/");

        public async Task InitializeAsync()
        {
            Process = await SiloProcess.StartAsync(data.Path, siloPort: SiloPort,
                extraArguments: ["--Gan:Dashboard", $"http://127.0.0.1:{Dashboard.Port}"]);
            client = await ClusterConnection.ConnectAsync(Process.Gateway, TimeSpan.FromSeconds(20), CancellationToken.None);
            var member = client.Client.GetGrain<ICoordinatorGrain>("dashboard");
            await member.StartAsync(TestSpecs.SmallRing(steps: 1_000_000) with { Evaluation = new() { Every = 500, Samples = 500, MinSamplesPerMode = 10 }, Checkpoint = new() { Every = 1000 } });
            await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 100 || s.State.IsFinished(), Timeout, "the member to train");
        }

        public async Task DisposeAsync()
        {
            if (client is not null) await client.DisposeAsync();
            if (Process is not null) await Process.DisposeAsync();
            data.Dispose();
        }
    }
}

/// <summary>Gan:Dashboard's values and how its address joins --urls (no process).</summary>
public class DashboardSettingTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("off", null)]
    [InlineData("false", null)]
    [InlineData("on", "http://127.0.0.1:8080")]
    [InlineData("True", "http://127.0.0.1:8080")]
    [InlineData("http://0.0.0.0:9000", "http://0.0.0.0:9000")]
    public void Off_by_default_on_means_loopback_port_8080_and_an_address_is_taken_as_given(string? value, string? expected)
    {
        var address = GanDashboard.Address(Configuration(value));
        Assert.Equal(expected, address is null ? null : $"{address.Scheme}://{address.Host}:{address.Port}");
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("https://127.0.0.1:8080")]
    [InlineData("http://127.0.0.1:8080/dashboard")]
    [InlineData("127.0.0.1:8080")]
    public void Any_other_value_is_refused_naming_the_setting(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => GanDashboard.Address(Configuration(value)));
        Assert.Equal($"Gan:Dashboard must be off, on or an http://HOST:PORT address (on = http://127.0.0.1:8080), got '{value}'", e.Message);
    }

    [Fact]
    public void The_dashboard_gets_its_own_listener_unless_urls_serves_that_very_address_and_never_a_port_urls_holds_elsewhere()
    {
        var on = GanDashboard.Address(Configuration("on"))!;
        Assert.Equal("http://127.0.0.1:9464;http://127.0.0.1:8080", GanDashboard.WithDashboard("http://127.0.0.1:9464", on));
        Assert.Equal("http://127.0.0.1:8080", GanDashboard.WithDashboard("http://127.0.0.1:8080", on));
        var e = Assert.Throws<ArgumentException>(() => GanDashboard.WithDashboard("http://0.0.0.0:8080", on));
        Assert.Equal("Gan:Dashboard: port 8080 is already taken by --urls http://0.0.0.0:8080; give the dashboard another port", e.Message);
    }

    private static IConfiguration Configuration(string? value) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [GanDashboard.Key] = value }).Build();
}

/// <summary>A test that needs headless Chromium: skipped, with the reason, where it is missing outside CI; in CI (.ci/run installs it) it runs and fails.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null && !Chromium.InCi)
            Skip = "chromium is not installed (apt-get install chromium; .ci/run installs it and runs this test)";
    }
}

public static class Chromium
{
    /// <summary>CI sets CI or GANCLUSTER_CI (.ci/run does).</summary>
    public static bool InCi => new[] { "CI", "GANCLUSTER_CI" }.Any(v => Environment.GetEnvironmentVariable(v) is { Length: > 0 } s && s != "0" && !s.Equals("false", StringComparison.OrdinalIgnoreCase));

    public static string? Path { get; } = new[] { "chromium", "chromium-browser", "google-chrome" }
        .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => System.IO.Path.Combine(dir, name)))
        .FirstOrDefault(File.Exists);

    /// <summary>Runs headless Chromium at 1400×900 on <paramref name="url"/>, letting the page poll its API for 8 s of virtual time; returns its stdout.</summary>
    public static async Task<string> RunAsync(string chromium, string profile, string action, Uri url)
    {
        var info = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", $"--user-data-dir={profile}/chromium", "--window-size=1400,900",
                     "--virtual-time-budget=8000", action, url.ToString() })
            info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try { await process.WaitForExitAsync(timeout.Token); }
        finally { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        Assert.True(process.ExitCode == 0, $"chromium exited with code {process.ExitCode}:\n{await stderr}");
        return await stdout;
    }
}
