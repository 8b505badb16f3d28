namespace GanCluster.Contracts.Sweeps;

/// <summary>A sweep id that names no submitted sweep: the client says so with exit code 2.</summary>
[GenerateSerializer, Alias("gan.UnknownSweepException")]
public sealed class UnknownSweepException : Exception
{
    public UnknownSweepException() { }
    public UnknownSweepException(string message) : base(message) { }
    public UnknownSweepException(string message, Exception inner) : base(message, inner) { }
}
