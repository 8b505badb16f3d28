using GanCluster.Contracts.Sweeps;
using GanCluster.Grains.Storage;

namespace GanCluster.Grains.Sweeps;

public sealed class SweepIndexState
{
    public List<string> SweepIds { get; set; } = [];
}

public sealed class SweepIndexGrain([PersistentState("sweeps", GanStorage.Name)] IPersistentState<SweepIndexState> state)
    : Grain, ISweepIndexGrain
{
    public async ValueTask AddAsync(string sweepId)
    {
        if (state.State.SweepIds.Contains(sweepId)) return;
        state.State.SweepIds.Add(sweepId);
        await state.WriteStateAsync();
    }

    public ValueTask<IReadOnlyList<string>> ListAsync() => ValueTask.FromResult<IReadOnlyList<string>>(state.State.SweepIds.ToArray());
}
