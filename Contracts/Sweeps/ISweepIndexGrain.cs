namespace GanCluster.Contracts.Sweeps;

/// <summary>
/// The cluster's list of submitted sweeps (key 0), for <c>status</c> without an id, and each sweep's content hash
/// (<see cref="GanCluster.Gan.Specs.SpecLoader.ContentHash"/>), so that <c>submit</c> finds a sweep of the same spec.
/// </summary>
[Alias("gan.ISweepIndex")]
public interface ISweepIndexGrain : IGrainWithIntegerKey
{
    [Alias("AddWithContent")] ValueTask AddAsync(string sweepId, string contentHash);
    [Alias("List")] ValueTask<IReadOnlyList<string>> ListAsync();
    /// <summary>The sweeps submitted with this content hash, oldest first (finished ones included).</summary>
    [Alias("WithContent")] ValueTask<IReadOnlyList<string>> WithContentAsync(string contentHash);
}
