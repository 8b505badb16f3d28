using System.Collections.Concurrent;
using GanCluster.Gan.Training;
using static TorchSharp.torch;

namespace GanCluster.Grains.Workers;

/// <summary>
/// One silo's open loans (a singleton of the silo's services): a discriminator worker whose generator lives on the same
/// silo borrows G's network for one alternating run and drives both on its own thread, with no message per step.
/// The discriminator opens a loan and calls <c>LendAsync</c> on its generator; the generator's turn finds the loan
/// here only when it runs on the same silo, hands over its network, and stays awaiting the network's return, so that
/// no other call reaches the generator while the discriminator uses it: the network still has one user at a time.
/// </summary>
public sealed class GeneratorLoans
{
    private readonly ConcurrentDictionary<Guid, GeneratorLoan> open = new();

    public GeneratorLoan Open(string memberId)
    {
        var loan = new GeneratorLoan(Guid.NewGuid(), memberId);
        open[loan.Id] = loan;
        return loan;
    }

    /// <summary>The loan, if it was opened on this silo for this member and not yet taken or closed.</summary>
    public GeneratorLoan? Take(Guid id, string memberId)
    {
        if (!open.TryGetValue(id, out var loan) || loan.MemberId != memberId || !open.TryRemove(id, out _)) return null;
        Interlocked.Increment(ref taken);
        return loan;
    }

    public void Close(Guid id) => open.TryRemove(id, out _);

    private long taken;
    /// <summary>Loans taken by a generator on this silo so far (for tests).</summary>
    internal long TakenCount => Interlocked.Read(ref taken);
    internal int OpenCount => open.Count;
}

/// <summary>G's network, lent by its worker's turn to the discriminator of the same member until <see cref="Return"/>.</summary>
public sealed class GeneratorLoan(Guid id, string memberId)
{
    private readonly TaskCompletionSource<(GeneratorModel Model, Device Device)> lent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource returned = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Guid Id { get; } = id;
    public string MemberId { get; } = memberId;
    /// <summary>Completes when the generator's turn has handed over its network (and device).</summary>
    public Task<(GeneratorModel Model, Device Device)> Lent => lent.Task;
    /// <summary>Completes when the discriminator is done with the network; the generator's turn awaits it.</summary>
    public Task Returned => returned.Task;

    public void Lend(GeneratorModel model, Device device) => lent.TrySetResult((model, device));
    public void Return() => returned.TrySetResult();
}
