using GanCluster.Client.Cli;
using System.Globalization;
using System.Runtime.InteropServices;

namespace GanCluster.Benchmarks;

/// <summary>
/// One sample of where this process's memory is: resident (anonymous and file-backed pages), the .NET heap and glibc
/// malloc's own accounting, so that a reader of the memory benchmark can tell managed growth from native allocations
/// from allocator fragmentation (memory malloc holds free but has not returned to the system).
/// </summary>
internal readonly record struct ProcessMemory(
    double RssMiB, double RssAnonMiB, double RssFileMiB, double RssShmemMiB,
    double GcHeapMiB, double GcCommittedMiB, double GcFragmentedMiB, double ManagedLiveMiB, int Gen2Collections,
    double MallocMiB, double MallocInUseMiB, double MallocFreeMiB)
{
    private const double MiB = 1024.0 * 1024.0;

    public static ProcessMemory Sample()
    {
        double rss = double.NaN, anon = double.NaN, file = double.NaN, shmem = double.NaN;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kib(line);
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kib(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = Kib(line);
            else if (line.StartsWith("RssShmem:", StringComparison.Ordinal)) shmem = Kib(line);
        }
        var gc = GC.GetGCMemoryInfo();
        var (arena, inUse, free) = Malloc.Info();
        return new ProcessMemory(rss, anon, file, shmem,
            gc.HeapSizeBytes / MiB, gc.TotalCommittedBytes / MiB, gc.FragmentedBytes / MiB, GC.GetTotalMemory(false) / MiB, GC.CollectionCount(2),
            arena / MiB, inUse / MiB, free / MiB);

        static double Kib(string line) =>
            long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    /// <summary>The columns after VmRSS, for the benchmark's per-sample line.</summary>
    public string Columns() => string.Create(CultureInfo.InvariantCulture,
        $"anon {RssAnonMiB,6:F1} file {RssFileMiB,5:F1} shmem {RssShmemMiB,4:F1} | GC heap {GcHeapMiB,5:F1} committed {GcCommittedMiB,5:F1} frag {GcFragmentedMiB,4:F1} live {ManagedLiveMiB,5:F1} gen2 {Gen2Collections,3} | malloc {MallocMiB,6:F1} used {MallocInUseMiB,6:F1} free {MallocFreeMiB,5:F1} MiB");

    /// <summary>One-line legend of <see cref="Columns"/>.</summary>
    public const string Legend =
        "anon/file/shmem = RssAnon/RssFile/RssShmem (shmem: the runtime's double-mapped JIT code); GC heap/committed/frag = GC.GetGCMemoryInfo() after the last collection; live = GC.GetTotalMemory(false); " +
        "malloc = glibc mallinfo2 arena + hblkhd (all arenas and mmapped blocks), used = uordblks + hblkhd, free = fordblks (held free inside the arenas)";

    /// <summary>glibc's mallinfo2 (2.33 and later), summed over all arenas; zeros where it is missing (not glibc, not Linux).</summary>
    private static class Malloc
    {
        [StructLayout(LayoutKind.Sequential)]
        private struct MallInfo2
        {
            public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")]
        private static extern MallInfo2 MallInfo();

        private static bool missing = !OperatingSystem.IsLinux();

        public static (double Total, double InUse, double Free) Info()
        {
            if (missing) return (double.NaN, double.NaN, double.NaN);
            try
            {
                var m = MallInfo();
                return ((double)m.Arena + m.Hblkhd, (double)m.Uordblks + m.Hblkhd, m.Fordblks);
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                missing = true;
                return (double.NaN, double.NaN, double.NaN);
            }
        }
    }
}
