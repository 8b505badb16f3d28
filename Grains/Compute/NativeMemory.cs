using System.Runtime.InteropServices;

namespace GanCluster.Grains.Compute;

/// <summary>
/// Gives memory that glibc's malloc holds free back to the system (<c>malloc_trim(0)</c>). libtorch allocates and
/// frees tensor buffers through malloc; the freed space stays inside malloc's heaps (fragmented among live blocks) and
/// counts as resident memory until it is trimmed. Linux with glibc only; elsewhere (or without the symbol) a no-op.
/// </summary>
public static class NativeMemory
{
    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static bool missing = !OperatingSystem.IsLinux();

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
