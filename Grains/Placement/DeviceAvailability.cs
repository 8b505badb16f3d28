using GanCluster.Gan.Compute;
using Microsoft.Extensions.Configuration;
using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Placement;

/// <summary>
/// Whether a spec's device exists where its workers would run; asked before a member or a sweep is created, so that a
/// spec asking for a device the cluster lacks is refused with nothing started.
/// </summary>
public interface IDeviceAvailability
{
    /// <summary>Null when <paramref name="device"/> (auto, cpu, cuda, cuda:N) can be used, or cannot be judged here; otherwise the problem, naming the field.</summary>
    string? Problem(string device);
}

/// <summary>
/// Judges by this silo, which is exact when it is the only silo (the embedded default, one machine) and hosts workers.
/// In a cluster of several silos, or on a coordination-only silo, the workers may run on other machines with other
/// devices: it does not judge there (device-aware placement knows every silo's devices and can register a cluster-wide
/// <see cref="IDeviceAvailability"/>), and a worker that lacks the device still fails the member with the same message.
/// </summary>
public sealed class LocalDeviceAvailability(TorchCompute compute, IClusterMembershipService membership, IConfiguration configuration) : IDeviceAvailability
{
    public string? Problem(string device)
    {
        if (string.Equals(configuration["Gan:Compute:CoordinationOnly"], "true", StringComparison.OrdinalIgnoreCase)) return null;
        if (membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active) > 1) return null;
        try
        {
            compute.ResolveDevice(device);
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }
}
