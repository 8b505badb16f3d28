using GanCluster.Contracts.Members;

namespace GanCluster.Contracts.Sweeps;

[GenerateSerializer, Alias("gan.SweepState")]
public enum SweepState
{
    Running = 0,
    Paused = 1,
    Completed = 2,
    Cancelled = 3,
}

/// <summary>One member in a sweep's table: where it stands and how fit it is (higher is better).</summary>
[GenerateSerializer, Immutable, Alias("gan.SweepMember")]
public sealed record SweepMember(
    [property: Id(0)] string MemberId,
    [property: Id(1)] int Population,
    [property: Id(2)] MemberState State,
    [property: Id(3)] long Step,
    [property: Id(4)] long TotalSteps,
    [property: Id(5)] double? Fitness,
    [property: Id(6)] string Hyperparameters,
    [property: Id(7)] bool Started);

[GenerateSerializer, Immutable, Alias("gan.SweepStatus")]
public sealed record SweepStatus
{
    [Id(0)] public required string SweepId { get; init; }
    [Id(1)] public SweepState State { get; init; }
    [Id(2)] public string Strategy { get; init; } = "";
    [Id(3)] public int Concurrency { get; init; }
    [Id(4)] public IReadOnlyList<SweepMember> Members { get; init; } = [];
    /// <summary>The most members this sweep has had training at once (never above <see cref="Concurrency"/>).</summary>
    [Id(5)] public int MostRunning { get; init; }
    /// <summary>What the fitness is: modes covered × high-quality fraction (mixtures) or −Fréchet distance (images).</summary>
    [Id(6)] public string Fitness { get; init; } = "";
    /// <summary>Every PBT exploit and explore, oldest first.</summary>
    [Id(7)] public IReadOnlyList<LineageEntry> Lineage { get; init; } = [];

    public SweepMember? Best => Members.Where(m => m.Fitness is not null).MaxBy(m => m.Fitness);
}

/// <summary>PBT's answer to a member that reports at an interval: carry on, or exploit a donor and explore.</summary>
[GenerateSerializer, Immutable, Alias("gan.PbtDecision")]
public sealed record PbtDecision(
    [property: Id(0)] string DonorId,
    [property: Id(1)] long DonorStep,
    [property: Id(2)] Workers.CheckpointFile Generator,
    [property: Id(3)] Workers.CheckpointFile Discriminator,
    [property: Id(4)] Specs.GanSpec Spec,
    [property: Id(5)] string OldHyperparameters,
    [property: Id(6)] string NewHyperparameters);

/// <summary>One exploit-and-explore of population-based training.</summary>
[GenerateSerializer, Immutable, Alias("gan.LineageEntry")]
public sealed record LineageEntry(
    [property: Id(0)] string MemberId,
    [property: Id(1)] long Step,
    [property: Id(2)] string DonorId,
    [property: Id(3)] long DonorStep,
    [property: Id(4)] string OldHyperparameters,
    [property: Id(5)] string NewHyperparameters,
    [property: Id(6)] DateTimeOffset At);
