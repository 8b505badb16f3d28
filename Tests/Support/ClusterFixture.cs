using GanCluster.Grains.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.TestingHost;
using Serilog;

namespace GanCluster.Tests.Support;

/// <summary>Orleans' in-process test cluster with the GanCluster grains and a temporary data directory.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly TempDirectory data = new();

    public TestCluster Cluster { get; private set; } = null!;
    public string DataDirectory => data.Path;
    public IClusterClient Client => Cluster.Client;

    /// <summary>The silo's log (Information and up), for the message of a failing test.</summary>
    public string LogPath => Path.Combine(data.Path, "silo.log");

    /// <summary>The last lines of the silo's log.</summary>
    public string LogTail(int lines = 60)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var all = new StreamReader(stream).ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e) { return $"(no silo log: {e.Message})"; }
    }

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = data.Path,
            ["Gan:Compute:Threads"] = "2",
        }));
        builder.AddSiloBuilderConfigurator<GanSiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        data.Dispose();
    }

    private sealed class GanSiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddGanCluster(siloBuilder.Configuration);
            var path = Path.Combine(siloBuilder.Configuration["Gan:DataDirectory"]!, "silo.log");
            var log = new Serilog.LoggerConfiguration()
                .MinimumLevel.Information()
                .MinimumLevel.Override("Orleans", Serilog.Events.LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
                .WriteTo.File(path, shared: true, flushToDiskInterval: TimeSpan.FromMilliseconds(200),
                    outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}")
                .CreateLogger();
            siloBuilder.Services.AddLogging(l => l.AddSerilog(log, dispose: true));
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
