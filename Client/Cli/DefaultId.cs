using System.Globalization;

namespace GanCluster.Client.Cli;

/// <summary>
/// The id a member or sweep gets when none is given: <c>{name}-{yyyyMMdd-HHmmss}-{8 hex}</c>. Readable, and it cannot
/// collide: the suffix counts up from a random start, so ids made by one client (in the same second or not) are all
/// distinct, and two clients in the same second share one only by a 1-in-2³² chance of overlapping starts.
/// </summary>
public static class DefaultId
{
    private static readonly uint Start = (uint)Random.Shared.NextInt64(0, 1L << 32);
    private static uint issued;

    public static string For(string name) =>
        string.Create(CultureInfo.InvariantCulture, $"{name}-{DateTime.Now:yyyyMMdd-HHmmss}-{unchecked(Start + Interlocked.Increment(ref issued)):x8}");
}
