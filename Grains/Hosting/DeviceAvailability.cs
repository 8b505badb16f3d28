using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Hosting;

/// <summary>
/// Whether a spec's device exists where its workers would run; asked before a member is created, so that a spec asking
/// for a device the cluster lacks is refused with nothing started. The default judges by this silo (every silo of a
/// cluster without device-aware placement is alike); device-aware placement can register one that asks every worker silo.
/// </summary>
public interface IDeviceAvailability
{
    /// <summary>Null when <paramref name="device"/> (auto, cpu, cuda, cuda:N) can be used; otherwise the problem, naming the field.</summary>
    string? Problem(string device);
}

public sealed class LocalDeviceAvailability(TorchCompute compute) : IDeviceAvailability
{
    public string? Problem(string device)
    {
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
