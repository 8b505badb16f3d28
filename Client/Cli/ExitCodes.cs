namespace GanCluster.Client.Cli;

/// <summary>The documented exit codes of every command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int BadInput = 2;
    public const int Unreachable = 3;
    public const int TrainingFailed = 4;
    public const int Interrupted = 130;
}
