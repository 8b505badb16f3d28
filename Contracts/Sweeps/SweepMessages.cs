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

/// <summary>PBT's answer to a member reporting at an interval.</summary>
[GenerateSerializer, Alias("gan.PbtAction")]
public enum PbtAction
{
    /// <summary>Carry on with your own weights and hyperparameters.</summary>
    Continue,
    /// <summary>Members of your population have not reached this interval yet: you will be told when to ask again.</summary>
    Wait,
    /// <summary>Load the donor's checkpoint and train on under the explored hyperparameters.</summary>
    Exploit,
}

[GenerateSerializer, Immutable, Alias("gan.PbtVerdict")]
public sealed record PbtVerdict(
    [property: Id(0)] PbtAction Action,
    [property: Id(1)] PbtDecision? Exploit = null)
{
    public static readonly PbtVerdict Continue = new(PbtAction.Continue);
    public static readonly PbtVerdict Wait = new(PbtAction.Wait);
}

/// <summary>An exploit: the donor's checkpoint to load, and the explored hyperparameters as a whole spec.</summary>
[GenerateSerializer, Immutable, Alias("gan.PbtDecision")]
public sealed record PbtDecision(
    [property: Id(0)] string DonorId,
    [property: Id(1)] long DonorStep,
    [property: Id(2)] Workers.CheckpointFile Generator,
    [property: Id(3)] Workers.CheckpointFile Discriminator,
    [property: Id(4)] GanCluster.Gan.Specs.GanSpec Spec,
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
