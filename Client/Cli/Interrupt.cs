using System.Runtime.InteropServices;

namespace GanCluster.Client.Cli;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM for a long command: the first one cancels <see cref="Token"/>, so the command stops
/// cleanly (cancels and checkpoints what it started, or stops watching, writes its report) and exits 130; a second
/// one ends the process at once, as a terminal user expects.
/// </summary>
public sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource source = new();
    private readonly PosixSignalRegistration terminate;
    private int count;

    public Interrupt()
    {
        Console.CancelKeyPress += OnCancelKey;
        terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => source.Token;
    public bool Requested => source.IsCancellationRequested;

    private void OnCancelKey(object? sender, ConsoleCancelEventArgs e)
    {
        if (Interlocked.Increment(ref count) == 1) { e.Cancel = true; source.Cancel(); }
        else if (!Console.IsOutputRedirected) Console.Out.Write("\u001b[?25h\n"); // leaving at once: the cursor a live display hid comes back
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref count) == 1) { context.Cancel = true; source.Cancel(); }
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKey;
        terminate.Dispose();
        source.Dispose();
    }
}
