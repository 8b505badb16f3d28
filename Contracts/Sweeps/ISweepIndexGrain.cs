namespace GanCluster.Contracts.Sweeps;

/// <summary>The cluster's list of submitted sweeps (key 0), for <c>status</c> without an id.</summary>
[Alias("gan.ISweepIndex")]
public interface ISweepIndexGrain : IGrainWithIntegerKey
{
    [Alias("Add")] ValueTask AddAsync(string sweepId);
    [Alias("List")] ValueTask<IReadOnlyList<string>> ListAsync();
}
