using System.Collections.Concurrent;
using GanCluster.Gan.Specs;

namespace GanCluster.Gan.Data;

public static class RealData
{
    // Image sets are read once per process and shared by every worker that trains on them (read-only tensors).
    private static readonly ConcurrentDictionary<string, Lazy<ImageDataset>> Images = new();

    /// <summary>The real data a spec names; a missing or malformed file is an error that names it.</summary>
    public static IRealData FromSpec(DataSpec spec) => spec.Kind switch
    {
        "digits" => Shared("digits", ImageDataset.LoadShippedDigits),
        "idx" => Shared($"idx:{Path.GetFullPath(spec.Images!)}|{Path.GetFullPath(spec.Labels!)}", () => ImageDataset.Load(spec.Images!, spec.Labels!)),
        _ => MixtureDataset.FromSpec(spec),
    };

    private static ImageDataset Shared(string key, Func<ImageDataset> load)
    {
        var lazy = Images.GetOrAdd(key, _ => new Lazy<ImageDataset>(load));
        try { return lazy.Value; }
        catch
        {
            // A file that failed to load may be fixed and retried.
            Images.TryRemove(key, out _);
            throw;
        }
    }
}
