using System.Globalization;
using GanCluster.Contracts.Members;

namespace GanCluster.Client.Cli;

/// <summary>
/// Receives a member's progress from its coordinator (an Orleans observer) and draws it: a redrawn bar on a terminal,
/// a line every few seconds when the output is redirected.
/// </summary>
public sealed class ProgressView : IMemberObserver
{
    private readonly TaskCompletionSource<MemberStatus> finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool interactive = !Console.IsOutputRedirected;
    private readonly Lock gate = new();
    private DateTime lastLine = DateTime.MinValue;
    private MemberStatus? latest;
    private readonly HashSet<string> notes = [];

    public Task<MemberStatus> Finished => finished.Task;

    public MemberStatus? Latest => latest;

    public Task OnProgressAsync(MemberStatus status)
    {
        Show(status);
        return Task.CompletedTask;
    }

    public void Show(MemberStatus status)
    {
        lock (gate)
        {
            // How the member resumed (from which checkpoint, which ones it skipped, a restart from step 0): one line
            // each, before the staleness check, since a resume rewinds the step.
            if (status.ResumeNote() is { } note && notes.Add(note))
            {
                if (interactive) Console.Write("\r" + new string(' ', Math.Max(40, Console.WindowWidth - 1)) + "\r");
                Console.WriteLine(note);
            }
            if (latest is not null && status.Step < latest.Step && status.State == latest.State && !status.State.IsFinished()) return;
            latest = status;
            if (interactive)
            {
                string text = Format(status);
                int width = Console.IsOutputRedirected ? 160 : Math.Max(40, Console.WindowWidth - 1);
                if (text.Length > width) text = text[..width];
                Console.Write("\r" + text.PadRight(width));
            }
            else if (DateTime.UtcNow - lastLine > TimeSpan.FromSeconds(5) || (status.State.IsFinished() && !finished.Task.IsCompleted))
            {
                Console.WriteLine(Format(status));
                lastLine = DateTime.UtcNow;
            }
            if (status.State.IsFinished()) finished.TrySetResult(status);
        }
    }

    public void EndLine()
    {
        if (interactive) Console.WriteLine();
    }

    public static string Format(MemberStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        double fraction = s.TotalSteps > 0 ? (double)s.Step / s.TotalSteps : 0;
        const int barWidth = 20;
        int filled = (int)Math.Round(fraction * barWidth);
        string bar = new string('#', filled) + new string('-', barWidth - filled);
        string text = string.Create(c, $"[{bar}] {s.Step}/{s.TotalSteps} {fraction,4:P0} {s.State,-9}");
        if (s.Latest is { } p)
            text += string.Create(c, $" | D {p.DLoss:F3} G {p.GLoss:F3} | D(x) real {p.DReal:F2} fake {p.DFake:F2}");
        if (s.State == MemberState.Running)
            text += s.Activity is { } doing ? $" | {doing}…" : string.Create(c, $" | {s.StepsPerSecond:F0} steps/s");
        if (s.Evaluation is { } e)
            text += string.Create(c, $" | modes {e.ModesCovered}/{e.ModesTotal} HQ {e.HighQualityFraction:P0}");
        if (s.ImageEvaluation is { } ie)
            text += string.Create(c, $" | classes {ie.ClassesCovered}/{ie.ClassCount} FD {ie.FrechetDistance:F0}");
        return text;
    }
}
