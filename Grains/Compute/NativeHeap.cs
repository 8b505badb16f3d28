using System.Runtime.InteropServices;

namespace GanCluster.Grains.Compute;

/// <summary>
/// Gives memory that glibc's malloc holds free back to the system (<c>malloc_trim(0)</c>). libtorch allocates and
/// frees tensor buffers through malloc; the freed space stays inside malloc's heaps (fragmented among live blocks) and
/// counts as resident memory until it is trimmed. Linux with glibc only; elsewhere (or without the symbol) a no-op.
/// </summary>
public static class NativeHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static bool missing = !OperatingSystem.IsLinux();
    private static long lastTrim = long.MinValue;

    /// <summary>Least time between two <see cref="TrimNowAndThen"/> trims in one process.</summary>
    public static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Trims after a checkpoint (called on a compute thread, between steps), at most once per
    /// <see cref="TrimInterval"/> in this process however many members checkpoint: a long-running member otherwise
    /// keeps growing its resident memory by the free space that fragmentation leaves in malloc's heaps.
    /// </summary>
    public static void TrimNowAndThen()
    {
        long now = Environment.TickCount64, last = Interlocked.Read(ref lastTrim);
        if (last != long.MinValue && now - last < (long)TrimInterval.TotalMilliseconds) return;
        if (Interlocked.CompareExchange(ref lastTrim, now, last) != last) return;
        Trim();
    }

    /// <summary>Trims every malloc arena; returns whether it ran (false where glibc's malloc_trim is missing).</summary>
    public static bool Trim()
    {
        if (missing) return false;
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            missing = true;
            return false;
        }
    }
}
