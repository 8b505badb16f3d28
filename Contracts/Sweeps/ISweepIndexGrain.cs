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
    /// <summary>
    /// <c>submit</c>'s short lock on a spec's content: the first client to claim a hash gets <paramref name="sweepId"/>
    /// back and submits; a second one within <paramref name="hold"/> gets the first one's id, waits for that sweep and
    /// answers with it, so two simultaneous submits of one spec start one sweep. A claim lapses after the hold, or is
    /// taken over at once when the caller names it as <paramref name="finished"/> (its sweep has ended).
    /// </summary>
    [Alias("Claim")] ValueTask<string> ClaimAsync(string contentHash, string sweepId, TimeSpan hold, string? finished = null);
}
