using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Storage;
using Microsoft.Extensions.Logging;

namespace GanCluster.Grains.Sweeps;

/// <summary>A population's persisted state: the sweep's spec, its members' PBT reports and decisions, its lineage.</summary>
public sealed class PopulationGrainState
{
    public string? SweepId { get; set; }
    public GanSpec? Spec { get; set; }
    public List<PopulationMemberState> Members { get; set; } = [];
    public List<LineageEntry> Lineage { get; set; } = [];
}

public sealed class PopulationMemberState
{
    public required string MemberId { get; set; }
    /// <summary>The member's position in the sweep: seeds its PBT choices, so a sweep's lineage repeats by its seed.</summary>
    public int Index { get; set; }
    public required GanSpec Spec { get; set; }
    public Dictionary<string, string> Hyperparameters { get; set; } = [];
    /// <summary>As the sweep last heard (<see cref="PopulationGrain.MemberProgressAsync"/>).</summary>
    public long Step { get; set; }
    public bool Finished { get; set; }
    /// <summary>The fitness and checkpoint the member reported at each interval (its own, never a donor's).</summary>
    public List<PbtReport> Reports { get; set; } = [];
    /// <summary>The last step the member was answered at, and the exploit it was told (null: carry on).</summary>
    public long DecidedStep { get; set; } = -1;
    public PbtDecision? Decision { get; set; }
}

/// <summary>What a PBT member reported at one interval.</summary>
public sealed record PbtReport(long Step, double? Fitness, CheckpointFile Generator, CheckpointFile Discriminator);

/// <summary>
/// PBT's exploit and explore for one population (<see cref="IPopulationGrain"/>). Its calls never call back into a
/// member or the sweep and wait (those are one-way), so it needs no interleaving: each report is one turn.
/// </summary>
public sealed class PopulationGrain(
    [PersistentState("population", GanStorage.Name)] IPersistentState<PopulationGrainState> state,
    Telemetry.GanMetrics metrics,
    ILogger<PopulationGrain> logger) : Grain, IPopulationGrain
{
    /// <summary>Members told to wait for their round, and the round's step (in memory: a member that hears nothing
    /// asks again after a while).</summary>
    private readonly Dictionary<string, long> waiting = [];

    private string PopulationId => this.GetPrimaryKeyString();

    public async ValueTask PlanAsync(PopulationPlan plan)
    {
        if (state.State.Spec is not null) return;
        state.State = new PopulationGrainState
        {
            SweepId = plan.SweepId,
            Spec = plan.Spec,
            Members = plan.Members.Select(m => new PopulationMemberState
            {
                MemberId = m.MemberId, Index = m.Index, Spec = m.Spec, Hyperparameters = new Dictionary<string, string>(m.Hyperparameters),
            }).ToList(),
        };
        await state.WriteStateAsync();
    }

    public async ValueTask<PbtVerdict> PbtReportAsync(string memberId, long step, double? fitness, CheckpointFile generator, CheckpointFile discriminator)
    {
        var search = state.State.Spec?.Search;
        var member = state.State.Members.FirstOrDefault(m => m.MemberId == memberId);
        if (search is null || member is null) return PbtVerdict.Continue;
        var population = state.State.Members;

        if (fitness is null)
        {
            // A diverged member: replaced from the latest round before its step that ranked at least two members.
            long round = population.SelectMany(m => m.Reports).Where(r => r.Step <= step && r.Fitness is not null)
                .GroupBy(r => r.Step).Where(g => g.Count() >= 2).Select(g => g.Key).DefaultIfEmpty(-1).Max();
            if (round < 0) return PbtVerdict.Continue;
            var replaced = Decide(member, round, step, search, diverged: true);
            await state.WriteStateAsync();
            return replaced;
        }

        // An answer already given for this step is given again (a repeated call must not explore twice).
        if (member.DecidedStep == step) return member.Decision is null ? PbtVerdict.Continue : new PbtVerdict(PbtAction.Exploit, member.Decision);
        bool isNew = !member.Reports.Any(r => r.Step == step);
        member.Reports.RemoveAll(r => r.Step == step);
        member.Reports.Add(new PbtReport(step, fitness, generator, discriminator));
        member.Step = step;
        // Synchronous rounds: wait for every unfinished member that has neither reported at this step nor passed it.
        if (population.Any(m => m != member && !m.Finished && m.Reports.Select(r => r.Step).DefaultIfEmpty(-1).Max() < step && m.Step <= step))
        {
            if (isNew) await state.WriteStateAsync();
            waiting[memberId] = step;
            return PbtVerdict.Wait;
        }
        waiting.Remove(memberId);
        var verdict = Decide(member, step, step, search, diverged: false);
        member.DecidedStep = step;
        member.Decision = verdict.Exploit;
        await state.WriteStateAsync();
        RoundMoved();
        return verdict;
    }

    public async Task MemberProgressAsync(string memberId, long step, bool finished)
    {
        var member = state.State.Members.FirstOrDefault(m => m.MemberId == memberId);
        if (member is null) return;
        // A member that finishes, or moves past a round that others wait on without reporting there (it resumed from
        // a later checkpoint), no longer holds it back. Steps are kept in memory (the sweep says them again); that a
        // member finished is persisted, since nobody says it again.
        bool finishing = finished && !member.Finished;
        bool moved = finishing || waiting.Values.Any(round => member.Step <= round && step > round);
        member.Step = step;
        member.Finished |= finished;
        if (finishing) await state.WriteStateAsync();
        if (moved) RoundMoved();
    }

    public ValueTask<PopulationView> GetViewAsync() => ValueTask.FromResult(View());

    private PopulationView View() => new(state.State.Lineage.ToList(),
        state.State.Members.Select(m => new PopulationMember(m.MemberId, m.Index, m.Spec, new Dictionary<string, string>(m.Hyperparameters))).ToList());

    /// <summary>Tells the members that wait for their round to ask again: it may be complete now.</summary>
    private void RoundMoved()
    {
        foreach (var id in waiting.Keys) _ = GrainFactory.GetGrain<ICoordinatorGrain>(id).PbtRoundMovedAsync();
        waiting.Clear();
    }

    /// <summary>
    /// Ranks the population by the fitness its members reported at <paramref name="round"/>; a member in the bottom
    /// quantile (or a diverged one) exploits a random member of the top quantile at that round and explores from its
    /// hyperparameters. The choice is seeded by the sweep's seed, the member's position and the step.
    /// </summary>
    private PbtVerdict Decide(PopulationMemberState member, long round, long step, SearchSpec search, bool diverged)
    {
        var ranked = state.State.Members.Select(m => (Member: m, Report: m.Reports.FirstOrDefault(r => r.Step == round)))
            .Where(x => x.Report is not null)
            .OrderByDescending(x => x.Report!.Fitness ?? double.NegativeInfinity).ThenBy(x => x.Member.MemberId, StringComparer.Ordinal)
            .ToList();
        int n = ranked.Count, q = Math.Max(1, (int)Math.Floor(n * search.Pbt.Quantile));
        int rank = ranked.FindIndex(x => x.Member == member);
        if (!diverged && (n < 2 || rank < n - q)) return PbtVerdict.Continue;
        var donors = ranked.Take(q).Where(x => x.Member != member && x.Report!.Fitness is not null).ToList();
        if (donors.Count == 0) return PbtVerdict.Continue;
        // Stable across processes (HashCode is not), and the same for the same member position in any sweep of this spec.
        var rng = new Random((int)(Gan.Training.Seeds.For(search.Seed, $"pbt/{member.Index}/{step}") & int.MaxValue));
        var (donor, report) = donors[rng.Next(donors.Count)];
        var explored = SweepPlanner.Space(search, []).Explore(donor.Hyperparameters, rng, search.Pbt.PerturbFactors, search.Pbt.ResampleProbability);
        GanSpec spec;
        try { spec = SpecLoader.Parse(SpecLoader.ToJson(state.State.Spec! with { Search = null, Seed = member.Spec.Seed }), SearchSpace.Overrides(explored), member.MemberId); }
        catch (SpecException)
        {
            // An explored point the spec refuses: take the donor's own hyperparameters unchanged.
            explored = donor.Hyperparameters;
            spec = donor.Spec with { Seed = member.Spec.Seed };
        }
        var entry = new LineageEntry(member.MemberId, step, donor.MemberId, round, SearchSpace.Describe(member.Hyperparameters),
            SearchSpace.Describe(explored), DateTimeOffset.UtcNow);
        state.State.Lineage.Add(entry);
        member.Hyperparameters = new Dictionary<string, string>(explored);
        member.Spec = spec;
        var labels = new Telemetry.MemberLabels(state.State.SweepId!, SweepPlanner.PopulationOf(state.State.SweepId!, member.MemberId), member.MemberId);
        metrics.Exploited(labels, explored: !ReferenceEquals(explored, donor.Hyperparameters));
        using (Telemetry.MemberLogScope.Begin(logger, labels, () => step))
            SweepLog.Exploited(logger, state.State.SweepId!, member.MemberId, step, donor.MemberId, round, entry.NewHyperparameters);
        // The sweep's table and lineage follow (one-way: the sweep may be calling this member's coordinator now).
        _ = GrainFactory.GetGrain<ISweepGrain>(state.State.SweepId!).PopulationChangedAsync(PopulationId);
        return new PbtVerdict(PbtAction.Exploit, new PbtDecision(donor.MemberId, round, report!.Generator, report.Discriminator, spec,
            entry.OldHyperparameters, entry.NewHyperparameters));
    }
}
