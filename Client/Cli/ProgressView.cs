using System.Globalization;
using GanCluster.Contracts.Members;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace GanCluster.Client.Cli;

/// <summary>
/// Receives a member's progress from its coordinator (an Orleans observer) and shows it: on a terminal a live
/// Spectre.Console progress display (state, bar, percentage, step, ETA and speed, and a line of losses, D(x) and
/// modes beneath), redrawn in place; when the output is redirected, a plain line every few seconds and at the end.
/// </summary>
public sealed class ProgressView : IMemberObserver
{
    private readonly TaskCompletionSource<MemberStatus> finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool live = Terminal.IsLive;
    private readonly Lock gate = new();
    private DateTime lastLine = DateTime.MinValue;
    private MemberStatus? latest;
    private ProgressTask? task;
    private readonly HashSet<string> notes = [];

    public Task<MemberStatus> Finished => finished.Task;

    public MemberStatus? Latest => latest;

    public Task OnProgressAsync(MemberStatus status)
    {
        Show(status);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="body"/> (start, wait, cancel) with the live display on a terminal; as it is otherwise.
    /// The display stays on the screen, in its final state, when the body returns.
    /// </summary>
    public async Task<T> LiveAsync<T>(Func<Task<T>> body)
    {
        if (!live) return await body();
        return await AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(
                new TaskDescriptionColumn { Alignment = Justify.Left },
                new ProgressBarColumn { Width = 30 },
                new PercentageColumn(),
                new StepColumn(),
                new EtaColumn(),
                new SpinnerColumn())
            .UseRenderHook((display, _) => latest is { } s && Details(s) is { Length: > 0 } details
                ? new Rows(display, new Markup("  " + Markup.Escape(details), new Style(Color.Grey)))
                : display)
            .StartAsync(async context =>
            {
                lock (gate)
                {
                    task = context.AddTask("pending", autoStart: true, maxValue: 1);
                    if (latest is not null) Update(task, latest);
                }
                try { return await body(); }
                finally { lock (gate) { if (latest is not null) Update(task, latest); task.StopTask(); } }
            });
    }

    /// <summary>A line above the live display, or a plain line.</summary>
    public void Note(string text)
    {
        lock (gate) Terminal.WriteLine(text, live && task is not null);
    }

    public void Show(MemberStatus status)
    {
        lock (gate)
        {
            // How the member resumed (from which checkpoint, which ones it skipped, a restart from step 0): one line
            // each, before the staleness check, since a resume rewinds the step.
            if (status.ResumeNote() is { } note && notes.Add(note)) Terminal.WriteLine(note, live && task is not null);
            if (latest is not null && status.Step < latest.Step && status.State == latest.State && !status.State.IsFinished()) return;
            latest = status;
            if (live)
            {
                if (task is not null) Update(task, status);
            }
            else if (DateTime.UtcNow - lastLine > TimeSpan.FromSeconds(5) || (status.State.IsFinished() && !finished.Task.IsCompleted))
            {
                Console.WriteLine(Format(status));
                lastLine = DateTime.UtcNow;
            }
            if (status.State.IsFinished()) finished.TrySetResult(status);
        }
    }

    private static void Update(ProgressTask task, MemberStatus status)
    {
        task.Tag = status;
        task.Description = $"{Markup.Escape(status.MemberId)} {Terminal.State(status.State)}";
        if (status.TotalSteps > 0) task.MaxValue = status.TotalSteps;
        task.Value = Math.Min(status.Step, task.MaxValue);
    }

    /// <summary>The plain progress line (redirected output).</summary>
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

    /// <summary>The live display's second line: losses, D(x), what the member is doing, the last evaluation.</summary>
    public static string Details(MemberStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        var parts = new List<string>();
        if (s.Latest is { } p)
            parts.Add(string.Create(c, $"D {p.DLoss:F3}  G {p.GLoss:F3}  D(x) real {p.DReal:F2} fake {p.DFake:F2}"));
        if (s.State == MemberState.Running && s.Activity is { } doing) parts.Add($"{doing}…");
        if (s.Evaluation is { } e) parts.Add(string.Create(c, $"modes {e.ModesCovered}/{e.ModesTotal}  HQ {e.HighQualityFraction:P0}  reverse KL {e.ReverseKl:F3}"));
        if (s.ImageEvaluation is { } ie) parts.Add(string.Create(c, $"classes {ie.ClassesCovered}/{ie.ClassCount}  FD {ie.FrechetDistance:F0}"));
        return string.Join("  │  ", parts);
    }

    /// <summary>Time left at the member's own speed (the cluster measures it), or what it is doing between steps.</summary>
    public static string Eta(MemberStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        if (s.State != MemberState.Running) return "";
        if (s.StepsPerSecond <= 0 || s.TotalSteps <= 0) return "ETA –";
        var left = TimeSpan.FromSeconds(Math.Max(0, s.TotalSteps - s.Step) / s.StepsPerSecond);
        return string.Create(c, $"ETA {(int)left.TotalHours}:{left:mm\\:ss}  {s.StepsPerSecond:F0} steps/s");
    }

    private sealed class StepColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            task.Tag is MemberStatus s ? new Text(string.Create(CultureInfo.InvariantCulture, $"{s.Step}/{s.TotalSteps}")) : Text.Empty;
    }

    private sealed class EtaColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            task.Tag is MemberStatus s ? new Text(Eta(s), new Style(Color.Grey)) : Text.Empty;
    }
}
