namespace GanCluster.Grains.Storage;

public static class GanStorage
{
    /// <summary>The grain storage provider every GanCluster grain persists through.</summary>
    public const string Name = "gan-store";
}
