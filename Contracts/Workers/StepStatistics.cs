namespace GanCluster.Contracts.Workers;

/// <summary>What one schedule step yielded, in either mode: the coordinator's curves and divergence checks read it.</summary>
public readonly record struct StepStatistics(double DLoss, double GLoss, double MeanDReal, double MeanDFake, double GradNormG, double GradNormD)
{
    /// <summary>Why this step counts as diverged (a NaN, infinite or exploding loss), or null.</summary>
    public string? Divergence(double maxLoss) =>
        !double.IsFinite(DLoss) || !double.IsFinite(GLoss) || Math.Abs(DLoss) > maxLoss || Math.Abs(GLoss) > maxLoss
            ? $"exploding or non-finite loss (D loss {DLoss:G4}, G loss {GLoss:G4}, limit {maxLoss:G4})"
            : null;
}
