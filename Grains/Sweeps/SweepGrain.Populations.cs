using GanCluster.Contracts.Sweeps;

namespace GanCluster.Grains.Sweeps;

/// <summary>The sweep's side of population-based training: plans each <see cref="PopulationGrain"/>, tells it how its
/// members stand, and shows its lineage.</summary>
public sealed partial class SweepGrain
{
    private bool IsPbt => state.State.Spec?.Search?.Strategy == "pbt";
    private bool populationsPlanned;

    private IPopulationGrain Population(int population) =>
        GrainFactory.GetGrain<IPopulationGrain>(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{SweepId}-p{population}"));

    /// <summary>PBT: hands each population its members (idempotent), before any member can report to it.</summary>
    private async Task PlanPopulationsAsync()
    {
        if (!IsPbt || populationsPlanned) return;
        var s = state.State;
        await Task.WhenAll(s.Members.Select((m, index) => (m, index)).GroupBy(x => x.m.Population).Select(g =>
            Population(g.Key).PlanAsync(new PopulationPlan(SweepId, s.Spec!,
                g.Select(x => new PopulationMember(x.m.MemberId, x.index, x.m.Spec, x.m.Hyperparameters)).ToList())).AsTask()));
        populationsPlanned = true;
    }

    /// <summary>From a population after an exploit: its lineage and members' hyperparameters are read back.</summary>
    public async Task PopulationChangedAsync(string populationId)
    {
        if (!IsPbt) return;
        var population = state.State.Members.Select(m => m.Population).Distinct()
            .FirstOrDefault(p => Population(p).GetPrimaryKeyString() == populationId, -1);
        if (population < 0) return;
        if (await SyncPopulationAsync(population)) await SaveAsync();
        Notify(force: true);
    }

    /// <summary>PBT: takes a population's lineage and its members' current hyperparameters; true when anything changed.</summary>
    private async Task<bool> SyncPopulationAsync(int population)
    {
        var view = await Population(population).GetViewAsync();
        var s = state.State;
        bool changed = !s.PopulationLineage.TryGetValue(population, out var known) || known.Count != view.Lineage.Count;
        s.PopulationLineage[population] = view.Lineage.ToList();
        foreach (var m in view.Members)
            if (s.Members.FirstOrDefault(x => x.MemberId == m.MemberId) is { } member)
            {
                member.Hyperparameters = new Dictionary<string, string>(m.Hyperparameters);
                member.Spec = m.Spec;
            }
        return changed;
    }

    private async Task<bool> SyncPopulationsAsync()
    {
        if (!IsPbt) return false;
        bool changed = false;
        foreach (var p in state.State.Members.Select(m => m.Population).Distinct().ToList())
        {
            try { changed |= await SyncPopulationAsync(p); }
            catch (Exception e) when (e is TimeoutException or OrleansException) { /* the next round asks again */ }
        }
        return changed;
    }
}
