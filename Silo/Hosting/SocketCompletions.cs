namespace GanCluster.Silo.Hosting;

/// <summary>
/// Runs socket completions on .NET's socket engine thread instead of first queueing each one to the thread pool
/// (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1). Orleans' socket transport only copies the received bytes into
/// its pipe there and hands them to the thread pool itself, so a message between two silos takes one thread hand-off
/// fewer at each end; with a member's generator and discriminator on different silos that is two per training step
/// (measured: 16.3–16.5 thread-pool work items per step across the two silos before, 14.2–14.5 after; BENCHMARKS.md).
/// Work that blocks must never run on that thread: grain code does not (it runs on Orleans' scheduler). The runtime
/// reads the variable once, when the first socket is created, so this runs first thing in Main; an operator's own
/// setting (0 turns it off) wins.
/// </summary>
public static class SocketCompletions
{
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void InlineUnlessConfigured()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null) Environment.SetEnvironmentVariable(Variable, "1");
    }
}
