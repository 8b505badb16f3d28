namespace GanCluster.Contracts.Members;

/// <summary>A member or sweep id already in use with another spec: the client says so with exit code 2.</summary>
[GenerateSerializer, Alias("gan.ConflictingSpecException")]
public sealed class ConflictingSpecException : Exception
{
    public ConflictingSpecException() { }
    public ConflictingSpecException(string message) : base(message) { }
    public ConflictingSpecException(string message, Exception inner) : base(message, inner) { }
}
