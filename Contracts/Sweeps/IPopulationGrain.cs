using GanCluster.Gan.Specs;
using Orleans.Concurrency;

namespace GanCluster.Contracts.Sweeps;

/// <summary>
/// One population of a population-based-training sweep (DESIGN.md): ranks its members at each interval and tells the
/// bottom ones to exploit a top one and explore, keeping the lineage. Keyed <c>{sweepId}-p{population}</c>, the
/// prefix of its members' ids. The sweep plans it (<see cref="PlanAsync"/>) and tells it how members stand; members
/// report to it at every interval; it tells the sweep when its lineage changes. Driven by messages: nothing polls.
/// </summary>
[Alias("gan.IPopulation")]
public interface IPopulationGrain : IGrainWithStringKey
{
    /// <summary>From the sweep: the population's members and the sweep's spec. Idempotent.</summary>
    [Alias("Plan")] ValueTask PlanAsync(PopulationPlan plan);

    /// <summary>
    /// A member at an interval reports its fitness and its checkpoint at this step. Rounds are synchronous: the answer
    /// is Wait until every unfinished member has reported at this step or moved past it (the population then tells the
    /// waiting members, <see cref="Members.ICoordinatorGrain.PbtRoundMovedAsync"/>, and they report again), then
    /// Continue or Exploit, decided on the whole round's ranking (so a sweep's lineage repeats by its seed). A report
    /// with no fitness (a diverged member) is answered at once, from the latest round that ranked two members.
    /// </summary>
    [Alias("PbtReport")] ValueTask<PbtVerdict> PbtReportAsync(string memberId, long step, double? fitness,
        Workers.CheckpointFile generator, Workers.CheckpointFile discriminator);

    /// <summary>From the sweep: where a member stands (a finished one no longer holds a round back).</summary>
    [Alias("MemberProgress"), OneWay] Task MemberProgressAsync(string memberId, long step, bool finished);

    /// <summary>Every exploit so far and each member's current hyperparameters (the sweep's table shows them).</summary>
    [Alias("GetView")] ValueTask<PopulationView> GetViewAsync();
}

/// <summary>What the sweep hands a population: its spec (with the search section) and the population's members.</summary>
[GenerateSerializer, Immutable, Alias("gan.PopulationPlan")]
public sealed record PopulationPlan(
    [property: Id(0)] string SweepId,
    [property: Id(1)] GanSpec Spec,
    [property: Id(2)] IReadOnlyList<PopulationMember> Members);

/// <summary>A member as planned: its position in the sweep (which seeds its PBT choices), spec and searched values.</summary>
[GenerateSerializer, Immutable, Alias("gan.PopulationMember")]
public sealed record PopulationMember(
    [property: Id(0)] string MemberId,
    [property: Id(1)] int Index,
    [property: Id(2)] GanSpec Spec,
    [property: Id(3)] IReadOnlyDictionary<string, string> Hyperparameters);

/// <summary>A population's lineage, oldest first, and its members' hyperparameters and specs as they stand now.</summary>
[GenerateSerializer, Immutable, Alias("gan.PopulationView")]
public sealed record PopulationView(
    [property: Id(0)] IReadOnlyList<LineageEntry> Lineage,
    [property: Id(1)] IReadOnlyList<PopulationMember> Members);
