using System.Net;
using GanCluster.Contracts.Workers;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime.Placement;
using GanCluster.Grains.Placement;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Placement;

public class DevicePlacementDirectorTests
{
    private static SiloAddress Silo(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1);

    [Fact]
    public async Task A_cluster_of_coordination_only_silos_refuses_a_worker_with_a_clear_message()
    {
        var silos = new[] { Silo(11111), Silo(11112) };
        var coordinationOnly = new SiloDevices("cpu", 1, 1024, 4, CoordinationOnly: true);
        // Membership is not consulted for placement: the director judges the silos Orleans offers it.
        var devices = new ClusterDevices(null, silo => silos.Contains(silo) ? coordinationOnly : null);
        var director = new DevicePlacementDirector(devices, null!, NullLogger<DevicePlacementDirector>.Instance);
        var target = new PlacementTarget(GrainId.Create("generatorworker", "m1"), [], default, 0);

        var e = await Assert.ThrowsAsync<DeviceCapacityException>(() => director.OnAddActivation(DevicePlacement.Instance, target, new Context(silos)));
        Assert.Contains("worker generatorworker/m1 cannot be placed: no silo of the cluster hosts workers", e.Message);
        Assert.Contains($"{silos[0]}: coordination only", e.Message);
        Assert.Contains("start a silo without Gan:Compute:CoordinationOnly", e.Message);
    }

    private sealed class Context(SiloAddress[] silos) : IPlacementContext
    {
        public SiloAddress LocalSilo => silos[0];
        public SiloStatus LocalSiloStatus => SiloStatus.Active;
        public SiloAddress[] GetCompatibleSilos(PlacementTarget target) => silos;
        public IReadOnlyDictionary<ushort, SiloAddress[]> GetCompatibleSilosWithVersions(PlacementTarget target) => new Dictionary<ushort, SiloAddress[]> { [0] = silos };
    }
}
