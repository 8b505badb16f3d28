using System.Diagnostics;
using Orleans.Runtime.MembershipService.SiloMetadata;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Placement;
using GanCluster.Grains.Workers;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;
using Orleans.Serialization.TypeSystem;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Places a worker grain on a silo that hosts workers and has free device capacity, the least loaded first (workers
/// per worker slot, then fewer workers, then the silo address, so that the choice is deterministic). Load is the
/// number of worker activations each silo holds right now, asked of the silos through the management grain once the
/// placements this silo made before have shown up there. With no capacity anywhere the activation fails
/// with a <see cref="DeviceCapacityException"/> naming every silo and its load. Two silos placing workers at the same
/// moment may both pick the same least-loaded silo: placement decisions are serialised per silo, not cluster-wide.
/// </summary>
public sealed class DevicePlacementDirector(ClusterDevices devices, IGrainFactory grains, ILogger<DevicePlacementDirector> logger) : IPlacementDirector
{
    private static readonly string[] WorkerTypes =
        [RuntimeTypeNameFormatter.Format(typeof(GeneratorWorkerGrain)), RuntimeTypeNameFormatter.Format(typeof(DiscriminatorWorkerGrain))];
    /// <summary>How long to wait for the metadata of a silo that just joined.</summary>
    private static readonly TimeSpan MetadataWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PendingFor = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly Dictionary<GrainId, (SiloAddress Silo, DateTime At)> pending = [];

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var compatible = context.GetCompatibleSilos(target);
        await gate.WaitAsync();
        try
        {
            var known = await DevicesOfAsync(compatible);
            var hosts = known.Where(s => s.Devices is { WorkerCapacity: > 0 }).Select(s => (s.Silo, Devices: s.Devices!)).ToList();
            if (hosts.Count == 0)
                throw new DeviceCapacityException(
                    $"worker {target.GrainIdentity} cannot be placed: no silo of the cluster hosts workers ({Describe(known, null)}); " +
                    "start a silo without Gan:Compute:CoordinationOnly");

            var load = await LoadAsync(hosts.Select(h => h.Silo).ToArray());
            // An explicit placement hint (IPlacementDirector.PlacementHintKey in the request context) wins when it names
            // a worker silo with a free slot: the benchmarks pin G and D to chosen silos that way.
            var hinted = IPlacementDirector.GetPlacementHint(target.RequestContextData, hosts.Select(h => h.Silo).ToArray());
            var chosen = hosts
                .Where(h => load[h.Silo] < h.Devices.WorkerCapacity)
                .OrderBy(h => h.Silo.Equals(hinted) ? 0 : 1)
                .ThenBy(h => (double)load[h.Silo] / h.Devices.WorkerCapacity)
                .ThenBy(h => load[h.Silo])
                .ThenBy(h => h.Silo.ToParsableString(), StringComparer.Ordinal)
                .Select(h => h.Silo)
                .FirstOrDefault();
            if (chosen is null)
                throw new DeviceCapacityException(
                    $"worker {target.GrainIdentity} cannot be placed: every worker silo is at its device capacity ({Describe(known, load)}); " +
                    "add a silo, raise Gan:Compute:WorkersPerDevice, or lower the sweep's concurrency");
            pending[target.GrainIdentity] = (chosen, DateTime.UtcNow);
            logger.LogInformation("Placing worker {Worker} on {Silo} (hint {Hint}; {Load} of {Capacity} worker slots in use)",
                target.GrainIdentity, chosen, hinted, load[chosen], hosts.First(h => h.Silo.Equals(chosen)).Devices.WorkerCapacity);
            return chosen;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<List<(SiloAddress Silo, SiloDevices? Devices)>> DevicesOfAsync(SiloAddress[] silos)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var known = silos.Select(s => (Silo: s, Devices: devices.Of(s))).ToList();
            // Metadata of a silo that just joined arrives a moment later; do not fail a placement for that.
            if (known.All(k => k.Devices is not null) || clock.Elapsed > MetadataWait) return known;
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Worker activations per silo. The placements this director made before must show up first (they are created
    /// a moment after the director answers): it polls until they do, for at most <see cref="PendingFor"/> after
    /// each, so that two placements in a row never both see an empty silo.
    /// </summary>
    private async Task<Dictionary<SiloAddress, int>> LoadAsync(SiloAddress[] silos)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        while (true)
        {
            var activations = await management.GetDetailedGrainStatistics(WorkerTypes, silos);
            var bySilo = silos.ToDictionary(s => s, _ => 0);
            var active = new HashSet<GrainId>();
            foreach (var a in activations)
            {
                if (!bySilo.ContainsKey(a.SiloAddress) || !active.Add(a.GrainId)) continue;
                bySilo[a.SiloAddress]++;
            }
            var now = DateTime.UtcNow;
            // Seen, or given up on (its activation failed, or it came and went already).
            foreach (var (grain, (_, at)) in pending.ToList())
                if (active.Contains(grain) || now - at > PendingFor) pending.Remove(grain);
            if (pending.Count == 0) return bySilo;
            await Task.Delay(20);
        }
    }

    private static string Describe(IEnumerable<(SiloAddress Silo, SiloDevices? Devices)> silos, Dictionary<SiloAddress, int>? load) =>
        string.Join("; ", silos.Select(s => s.Devices is null
            ? $"{s.Silo}: devices unknown"
            : load is not null && load.TryGetValue(s.Silo, out int n)
                ? $"{s.Silo}: {n} of {s.Devices.WorkerCapacity} worker slots in use ({s.Devices})"
                : $"{s.Silo}: {s.Devices}"));
}

public static class DevicePlacementExtensions
{
    /// <summary>
    /// Advertises this silo's devices as silo metadata and places worker grains by device capacity
    /// (<see cref="DevicePlacementDirector"/>); coordinators and sweeps keep Orleans' default placement.
    /// </summary>
    public static ISiloBuilder AddGanDevicePlacement(this ISiloBuilder silo, IConfiguration configuration)
    {
        var devices = SiloDevices.Detect(configuration);
        silo.UseSiloMetadata(devices.ToMetadata());
        silo.Services.AddSingleton(devices);
        silo.Services.AddSingleton<ClusterDevices>();
        silo.AddPlacementDirector<DevicePlacement, DevicePlacementDirector>();
        return silo;
    }
}
