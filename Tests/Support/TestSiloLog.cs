using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serilog;

namespace GanCluster.Tests.Support;

/// <summary>The in-process test silos' log: one file in the data directory, read back into failing tests' messages.</summary>
public static class TestSiloLog
{
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, "silo.log");

    /// <summary>Information and up (Orleans and Microsoft from Warning), every line tagged with the silo's name if given.</summary>
    public static void AddTo(ISiloBuilder silo, string dataDirectory, string? siloName = null)
    {
        string tag = siloName is null ? "" : $"[{siloName}] ";
        var log = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Orleans", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
            .WriteTo.File(PathIn(dataDirectory), shared: true, flushToDiskInterval: TimeSpan.FromMilliseconds(200),
                outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} " + tag + "{SourceContext}: {Message:lj}{NewLine}{Exception}")
            .CreateLogger();
        silo.Services.AddLogging(l => l.AddSerilog(log, dispose: true));
    }

    /// <summary>The last lines of the log.</summary>
    public static string Tail(string dataDirectory, int lines)
    {
        try
        {
            using var stream = new FileStream(PathIn(dataDirectory), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return string.Join('\n', new StreamReader(stream).ReadToEnd().Split('\n').TakeLast(lines));
        }
        catch (IOException e) { return $"(no silo log: {e.Message})"; }
    }
}
