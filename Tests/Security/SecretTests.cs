using System.Diagnostics;
using System.Net;
using System.Text;
using GanCluster.Silo.Logging;
using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Security;

/// <summary>No secret reaches a log line, an error message or /metrics.</summary>
public class SecretTests
{
    private const string Secret = "hunter2-Xq9";

    public static TheoryData<string, string> Texts => new()
    {
        { $"redis:6379,password={Secret},ssl=true", "redis:6379,password=***,ssl=true" },
        { $"cannot connect to redis://default:{Secret}@10.0.0.5:6379", "cannot connect to redis://default:***@10.0.0.5:6379" },
        { $"rediss://:{Secret}@cache:6380/0", "rediss://:***@cache:6380/0" },
        { $"Server=db;User Id=gan;Password={Secret};", "Server=db;User Id=gan;Password=***;" },
        { $"\"CertificatePassword\": \"{Secret}\"", "\"CertificatePassword\": \"***\"" },
        { $"CertificatePassword: {Secret}", "CertificatePassword: ***" },
        { "ResponseTimeout: 00:00:30, SiloPort=11111", "ResponseTimeout: 00:00:30, SiloPort=11111" },
        { "member ring8-1 checkpointed at step 500", "member ring8-1 checkpointed at step 500" },
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void Secrets_in_connection_strings_and_uris_are_masked(string text, string expected) =>
        Assert.Equal(expected, SecretRedaction.Redact(text));

    [Fact]
    public void A_configured_secret_is_masked_wherever_it_appears()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:Tls:CertificatePassword"] = "s3cr3t pass",
            ["Gan:Cluster:Redis"] = $"redis:6379,password={Secret}",
        }).Build();
        var secrets = SecretRedaction.SecretsIn(configuration);
        Assert.Equal(["s3cr3t pass", Secret], secrets);
        Assert.Equal("load failed for *** and *** here", SecretRedaction.Redact($"load failed for s3cr3t pass and {Secret} here", secrets));
    }

    private sealed class Capture : ILogEventSink
    {
        public readonly List<LogEvent> Events = [];
        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }

    [Fact]
    public void The_silo_log_sink_masks_properties_templates_structures_and_exceptions()
    {
        var capture = new Capture();
        var sink = new RedactingSink(capture, [Secret]);
        string connection = $"redis:6379,password={Secret}";
        var exception = new InvalidOperationException($"cannot connect with '{connection}'", new IOException($"inner {Secret}"));
        sink.Emit(new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Error, exception,
            new MessageTemplateParser().Parse($"joining {{Redis}} as {Secret} with {{Options}}"),
            [
                new LogEventProperty("Redis", new ScalarValue(connection)),
                new LogEventProperty("Options", new StructureValue([
                    new LogEventProperty("CertificatePassword", new ScalarValue("anything")),
                    new LogEventProperty("Hosts", new SequenceValue([new ScalarValue($"redis://u:{Secret}@h:1")])),
                ])),
                new LogEventProperty("RedisPassword", new ScalarValue("plain")),
            ]));
        var e = Assert.Single(capture.Events);
        var written = new StringWriter();
        e.RenderMessage(written);
        string all = written + " " + string.Join(" ", e.Properties.Select(p => p.Value.ToString())) + " " + e.Exception;
        Assert.DoesNotContain(Secret, all);
        Assert.DoesNotContain("anything", all);
        Assert.DoesNotContain("plain", all);
        Assert.True(written.ToString().Contains("password=***", StringComparison.Ordinal), written.ToString());
        Assert.Contains("cannot connect with 'redis:6379,password=***'", e.Exception!.Message);
        Assert.Contains("inner ***", e.Exception.ToString());
        Assert.Contains(nameof(InvalidOperationException), e.Exception.ToString()); // the original type stays visible
    }

    /// <summary>A real silo process with TLS and its password in the environment: neither its log nor /metrics holds it.</summary>
    [Fact]
    public async Task A_silo_with_a_tls_password_never_prints_or_exports_it()
    {
        using var dir = new TempDirectory();
        string pfx = TestCertificates.CreatePfx(dir.Path, "gancluster-secret-test", Secret);
        int http = SiloProcess.FreePort();
        var (process, output) = Start(dir.Path, http, pfx, Secret);
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}"), Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                Assert.False(process.HasExited, $"silo exited:\n{output}");
                Assert.True(DateTime.UtcNow < deadline, $"silo not healthy within 60 s:\n{output}");
                try { if ((await client.GetAsync("/health")).StatusCode == HttpStatusCode.OK) break; }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await Task.Delay(200);
            }
            string metrics = await client.GetStringAsync("/metrics");
            Assert.Contains("# TYPE ", metrics);
            Assert.DoesNotContain(Secret, metrics);
            Assert.DoesNotContain(Secret, await client.GetStringAsync("/health"));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
            process.Dispose();
        }
        lock (output) Assert.DoesNotContain(Secret, output.ToString());
        lock (output) Assert.Contains("Now listening on", output.ToString());
    }

    [Fact]
    public void A_silo_given_the_wrong_tls_password_stops_naming_the_setting_not_the_password()
    {
        using var dir = new TempDirectory();
        string pfx = TestCertificates.CreatePfx(dir.Path, "gancluster-secret-test", "the-right-one");
        var (process, output) = Start(dir.Path, SiloProcess.FreePort(), pfx, Secret);
        try
        {
            Assert.True(process.WaitForExit(60_000), $"the silo did not stop:\n{output}");
            Assert.NotEqual(0, process.ExitCode);
            process.WaitForExit(); // drains the redirected output
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
        }
        string text;
        lock (output) text = output.ToString();
        Assert.Contains("Gan:Tls:CertificatePath: cannot load", text);
        Assert.DoesNotContain(Secret, text);
    }

    private static (Process Process, StringBuilder Output) Start(string directory, int httpPort, string pfx, string password)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "GanCluster.Silo.dll"), "--urls", $"http://127.0.0.1:{httpPort}",
                     "--Gan:DataDirectory", Path.Combine(directory, "data"), "--Gan:SiloPort", SiloProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--Gan:GatewayPort", SiloProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture), "--Gan:Compute:Threads", "1" })
            info.ArgumentList.Add(a);
        // As a deployment would: the path in configuration, the password in the environment.
        info.Environment["Gan__Tls__CertificatePath"] = pfx;
        info.Environment["Gan__Tls__CertificatePassword"] = password;
        var output = new StringBuilder();
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start the silo process");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }
}
