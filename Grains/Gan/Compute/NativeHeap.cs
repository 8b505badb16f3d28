using System.Runtime.InteropServices;

namespace GanCluster.Gan.Compute;

/// <summary>
/// Gives memory that glibc's malloc holds free back to the system (<c>malloc_trim(0)</c>). libtorch allocates and
/// frees tensor buffers through malloc; the freed space stays inside malloc's heaps (fragmented among live blocks) and
/// counts as resident memory until it is trimmed. Linux with glibc only; elsewhere (or without the symbol) a no-op.
/// </summary>
public static class NativeHeap
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    private const int MTrimThreshold = -1, MMmapThreshold = -3;
    public const int MmapThresholdBytes = 32 << 20, TrimThresholdBytes = 128 << 20;
    public const string Variable = "GANCLUSTER_MALLOC";

    /// <summary>
    /// Fixes glibc malloc's mmap threshold at 32 MiB and its trim threshold at 128 MiB (the ceilings its own dynamic
    /// scheme can reach). Left dynamic, the threshold starts at 128 KiB and rises only when a large enough mmapped block
    /// happens to be freed, so a process's speed depended on the order of its first frees: in one run every
    /// 256 KiB activation of the ring GAN was a fresh mmap whose pages faulted in on each step, in another none was
    /// (the same build measured 190–340 and 430–490 steps/s; fixed, 488–490: BENCHMARKS.md). Memory that training
    /// frees stays in malloc's heaps, and <see cref="TrimNowAndThen"/> still gives it back after checkpoints.
    /// Skipped where the operator tuned malloc (GLIBC_TUNABLES, MALLOC_*_) or set GANCLUSTER_MALLOC=default.
    /// Returns what it did, in words.
    /// </summary>
    public static string FixThresholds()
    {
        if (missing) return "malloc: the platform's";
        if (Environment.GetEnvironmentVariable(Variable) == "default") return $"malloc: glibc's dynamic thresholds ({Variable}=default)";
        if (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 }
            || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is { Length: > 0 }
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is { Length: > 0 })
            return "malloc: as the environment tunes it";
        try
        {
            bool ok = Mallopt(MMmapThreshold, MmapThresholdBytes) == 1 & Mallopt(MTrimThreshold, TrimThresholdBytes) == 1;
            return ok ? "malloc: mmap threshold 32 MiB, trim threshold 128 MiB" : "malloc: glibc refused the thresholds";
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            missing = true;
            return "malloc: the platform's (no mallopt)";
        }
    }

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
