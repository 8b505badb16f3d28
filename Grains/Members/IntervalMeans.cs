using GanCluster.Contracts.Members;
using GanCluster.Contracts.Workers;

namespace GanCluster.Grains.Members;

/// <summary>Means of D's statistics over the steps since the last curve point.</summary>
internal sealed class IntervalMeans
{
    private double dLoss, gLoss, dReal, dFake, gradG, gradD;
    private int count;

    public void Add(StepStatistics f)
    {
        dLoss += f.DLoss; gLoss += f.GLoss; dReal += f.MeanDReal; dFake += f.MeanDFake;
        gradG += f.GradNormG; gradD += f.GradNormD; count++;
    }

    public CurvePoint Flush(long step)
    {
        int n = Math.Max(count, 1);
        var point = new CurvePoint(step, dLoss / n, gLoss / n, dReal / n, dFake / n) { GradNormG = gradG / n, GradNormD = gradD / n };
        dLoss = gLoss = dReal = dFake = gradG = gradD = 0; count = 0;
        return point;
    }
}
