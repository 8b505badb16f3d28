using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>Derives independent, stable seeds for each random stream of a member from the spec's one seed.</summary>
public static class Seeds
{
    public static ulong For(long seed, string stream)
    {
        // FNV-1a of the stream name, mixed with the seed through SplitMix64: stable across processes and platforms.
        ulong hash = 14695981039346656037UL;
        foreach (char c in stream) { hash ^= c; hash *= 1099511628211UL; }
        ulong z = unchecked((ulong)seed + hash + 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (z ^ (z >> 31)) & 0x7FFF_FFFF_FFFF_FFFFUL;
    }

    private static readonly Lock GlobalRngGate = new();

    /// <summary>
    /// Module initialisation draws from libtorch's process-wide RNG; members built at the same time on different
    /// threads would interleave their draws, so construction seeds and runs under one lock.
    /// </summary>
    public static T WithGlobalSeed<T>(ulong seed, Func<T> build)
    {
        lock (GlobalRngGate)
        {
            manual_seed((long)seed);
            return build();
        }
    }
}
