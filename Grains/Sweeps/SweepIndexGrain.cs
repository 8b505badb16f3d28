using GanCluster.Contracts.Sweeps;
using GanCluster.Grains.Storage;

namespace GanCluster.Grains.Sweeps;

public sealed class SweepIndexState
{
    public List<string> SweepIds { get; set; } = [];
    /// <summary>Sweep id → the content hash of its spec (sweeps indexed before hashes were kept have none).</summary>
    public Dictionary<string, string> ContentHashes { get; set; } = [];
}

public sealed class SweepIndexGrain([PersistentState("sweeps", GanStorage.Name)] IPersistentState<SweepIndexState> state)
    : Grain, ISweepIndexGrain
{
    public async ValueTask AddAsync(string sweepId, string contentHash)
    {
        if (state.State.SweepIds.Contains(sweepId) && state.State.ContentHashes.GetValueOrDefault(sweepId) == contentHash) return;
        if (!state.State.SweepIds.Contains(sweepId)) state.State.SweepIds.Add(sweepId);
        state.State.ContentHashes[sweepId] = contentHash;
        await state.WriteStateAsync();
    }

    /// <summary>In memory: a claim only has to outlive the few seconds between a submit's claim and its sweep's index entry.</summary>
    private readonly Dictionary<string, (string SweepId, DateTime Until)> claims = [];

    public ValueTask<string> ClaimAsync(string contentHash, string sweepId, TimeSpan hold, string? finished = null)
    {
        var now = DateTime.UtcNow;
        if (claims.TryGetValue(contentHash, out var held) && held.Until > now && held.SweepId != finished) return ValueTask.FromResult(held.SweepId);
        claims[contentHash] = (sweepId, now + hold);
        return ValueTask.FromResult(sweepId);
    }

    public ValueTask<IReadOnlyList<string>> ListAsync() => ValueTask.FromResult<IReadOnlyList<string>>(state.State.SweepIds.ToArray());

    public ValueTask<IReadOnlyList<string>> WithContentAsync(string contentHash) => ValueTask.FromResult<IReadOnlyList<string>>(
        state.State.SweepIds.Where(id => state.State.ContentHashes.GetValueOrDefault(id) == contentHash).ToArray());
}
