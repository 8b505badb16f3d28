using GanCluster.Contracts.Specs;

namespace GanCluster.Grains.Gan.Data;

public static class RealData
{
    /// <summary>The real data a spec names.</summary>
    public static IRealData FromSpec(DataSpec spec) => MixtureDataset.FromSpec(spec);
}
