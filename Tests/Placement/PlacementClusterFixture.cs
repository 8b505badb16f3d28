using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Placement;

/// <summary>
/// Three in-process silos that advertise different devices: the primary is coordination-only, the two secondaries
/// host workers — two worker slots each (one CPU device × WorkersPerDevice 2), with 4,096 and 2,048 MiB of device memory.
/// </summary>
public sealed class PlacementClusterFixture : IAsyncLifetime
{
    private readonly TempDirectory data = new();

    public const int SlotsPerWorkerSilo = 2;
    public const long LargestDeviceMiB = 4096;

    /// <summary>Per silo (by the test cluster's silo name): its Gan:Compute settings.</summary>
    public static readonly Dictionary<string, Dictionary<string, string?>> Devices = new()
    {
        ["Primary"] = new() { ["Gan:Compute:CoordinationOnly"] = "true", ["Gan:Compute:DeviceMemoryMiB"] = "65536" },
        ["Secondary_1"] = new() { ["Gan:Compute:WorkersPerDevice"] = "2", ["Gan:Compute:DeviceMemoryMiB"] = "4096" },
        ["Secondary_2"] = new() { ["Gan:Compute:WorkersPerDevice"] = "2", ["Gan:Compute:DeviceMemoryMiB"] = "2048" },
    };

    public TestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;
    public string DataDirectory => data.Path;
    public string LogPath => TestSiloLog.PathIn(data.Path);

    public string LogTail(int lines = 60) => TestSiloLog.Tail(data.Path, lines);

    /// <summary>A service of the named silo (in-process silos expose their container).</summary>
    public T SiloService<T>(string siloName) where T : notnull =>
        ((InProcessSiloHandle)Cluster.Silos.Single(s => s.Name == siloName)).SiloHost.Services.GetRequiredService<T>();

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(3);
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:DataDirectory"] = data.Path,
            ["Gan:Compute:Threads"] = "1",
        }));
        builder.AddSiloBuilderConfigurator<Configurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        data.Dispose();
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            string name = siloBuilder.Configuration["Orleans:Name"] ?? throw new InvalidOperationException("the test cluster gave no Orleans:Name");
            var configuration = new ConfigurationBuilder()
                .AddConfiguration(siloBuilder.Configuration)
                .AddInMemoryCollection(Devices[name])
                .Build();
            siloBuilder.AddGanCluster(configuration);
            TestSiloLog.AddTo(siloBuilder, configuration["Gan:DataDirectory"]!, name);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PlacementClusterCollection : ICollectionFixture<PlacementClusterFixture>
{
    public const string Name = "placement cluster";
}
