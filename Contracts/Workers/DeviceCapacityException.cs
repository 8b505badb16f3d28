namespace GanCluster.Contracts.Workers;

/// <summary>
/// A worker grain could not be placed: no silo of the cluster hosts workers, or every one that does is at its device
/// capacity (devices × Gan:Compute:WorkersPerDevice). The message names the silos and their load.
/// </summary>
[GenerateSerializer, Alias("gan.DeviceCapacityException")]
public sealed class DeviceCapacityException : Exception
{
    public DeviceCapacityException() { }
    public DeviceCapacityException(string message) : base(message) { }
    public DeviceCapacityException(string message, Exception inner) : base(message, inner) { }
}
