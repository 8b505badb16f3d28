using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Support;

/// <summary>Orleans' in-process test cluster with the GanCluster grains and a temporary data directory.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly TempDirectory data = new();

    public TestCluster Cluster { get; private set; } = null!;
    public string DataDirectory => data.Path;
    public IClusterClient Client => Cluster.Client;

    /// <summary>The silo's log (Information and up), for the message of a failing test.</summary>
    public string LogPath => TestSiloLog.PathIn(data.Path);

    /// <summary>The last lines of the silo's log.</summary>
    public string LogTail(int lines = 60) => TestSiloLog.Tail(data.Path, lines);

    /// <summary>A service of the (only) silo.</summary>
    public T SiloService<T>() where T : notnull =>
        ((InProcessSiloHandle)Cluster.Primary!).SiloHost.Services.GetRequiredService<T>();

    public async Task InitializeAsync() => Cluster = await DeployAsync(data.Path);

    /// <summary>A one-silo cluster on a data directory, for tests that stop a silo and start another on the same data.</summary>
    public static async Task<TestCluster> DeployAsync(string dataDirectory)
    {
        var builder = new TestClusterBuilder(1);
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = dataDirectory,
            ["Gan:Compute:Threads"] = "2",
        }));
        builder.AddSiloBuilderConfigurator<GanSiloConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
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
            TestSiloLog.AddTo(siloBuilder, siloBuilder.Configuration["Gan:DataDirectory"]!);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
