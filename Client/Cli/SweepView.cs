using System.Globalization;
using System.Text;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using Spectre.Console;

namespace GanCluster.Client.Cli;

/// <summary>
/// The table of a sweep, fed by its grain through an observer, best fitness first: on a terminal a live
/// Spectre.Console table redrawn in place, each state in its colour; when the output is redirected, the plain table
/// every ten seconds and at the end.
/// </summary>
public sealed class SweepView : ISweepObserver
{
    private readonly TaskCompletionSource<SweepStatus> finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool live = Terminal.IsLive;
    private readonly Lock gate = new();
    private LiveDisplayContext? display;
    private DateTime lastPrint = DateTime.MinValue;

    public Task<SweepStatus> Finished => finished.Task;
    public SweepStatus? Latest { get; private set; }

    public Task OnSweepProgressAsync(SweepStatus status)
    {
        Show(status);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="body"/> (submit or subscribe, wait, cancel) with the live table on a terminal; as it is
    /// otherwise. The table stays on the screen, in its final state, when the body returns.
    /// </summary>
    public async Task<T> LiveAsync<T>(Func<Task<T>> body)
    {
        if (!live) return await body();
        return await AnsiConsole.Live(Latest is { } s ? LiveTable(s) : new Markup("[grey]waiting for the sweep…[/]"))
            .AutoClear(false)
            .Overflow(VerticalOverflow.Ellipsis)
            .Cropping(VerticalOverflowCropping.Bottom) // the best rows stay in sight
            .StartAsync(async context =>
            {
                lock (gate)
                {
                    display = context;
                    if (Latest is { } now) { context.UpdateTarget(LiveTable(now)); context.Refresh(); }
                }
                try { return await body(); }
                finally { lock (gate) { if (Latest is { } last) { context.UpdateTarget(LiveTable(last)); context.Refresh(); } display = null; } }
            });
    }

    /// <summary>A line above the live table, or a plain line.</summary>
    public void Note(string text)
    {
        lock (gate) Terminal.WriteLine(text, display is not null);
    }

    public void Show(SweepStatus status)
    {
        lock (gate)
        {
            Latest = status;
            bool done = status.State is SweepState.Completed or SweepState.Cancelled;
            if (live)
            {
                if (display is not null) { display.UpdateTarget(LiveTable(status)); display.Refresh(); }
            }
            else if (DateTime.UtcNow - lastPrint > TimeSpan.FromSeconds(10) || (done && !finished.Task.IsCompleted))
            {
                foreach (var line in Table(status)) Console.WriteLine(line);
                lastPrint = DateTime.UtcNow;
            }
            if (done) finished.TrySetResult(status);
        }
    }

    /// <summary>The members best first: by fitness, those without one after, in the sweep's order.</summary>
    public static IEnumerable<SweepMember> Ranked(SweepStatus s) => s.Members.OrderByDescending(m => m.Fitness ?? double.NegativeInfinity);

    /// <summary>The live table (Spectre.Console): rank, member, state in its colour, a bar, step, fitness, hyperparameters.</summary>
    public static Table LiveTable(SweepStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table()
            .Border(TableBorder.Rounded)
            .Title(string.Create(c, $"sweep [bold]{Markup.Escape(s.SweepId)}[/] ({Markup.Escape(s.Strategy)}, {s.Members.Count} members, at most {s.Concurrency} at once): {Terminal.State(s.State)}"))
            .Caption(s.Best is { } best
                ? string.Create(c, $"best so far: [bold]{Markup.Escape(Name(s, best))}[/] fitness {best.Fitness:F4} · fitness = {Markup.Escape(s.Fitness)}")
                : $"fitness = {Markup.Escape(s.Fitness)}");
        table.AddColumn(new TableColumn("#").RightAligned());
        table.AddColumn("member");
        table.AddColumn("state");
        table.AddColumn(new TableColumn("progress").NoWrap());
        table.AddColumn(new TableColumn("step").RightAligned());
        table.AddColumn(new TableColumn("fitness").RightAligned());
        table.AddColumn("hyperparameters");
        int rank = 1;
        string? bestId = s.Best?.MemberId;
        foreach (var m in Ranked(s))
        {
            double fraction = m.TotalSteps > 0 ? Math.Clamp((double)m.Step / m.TotalSteps, 0, 1) : 0;
            int filled = (int)Math.Round(fraction * 20);
            string colour = Terminal.Colour(m.State);
            string bar = $"[{colour}]{new string('━', filled)}[/][grey23]{new string('━', 20 - filled)}[/]";
            string fitness = m.Fitness is double f ? f.ToString("F4", c) : "–";
            string name = Markup.Escape(Name(s, m));
            table.AddRow(
                rank++.ToString(c),
                m.MemberId == bestId ? $"[bold]{name}[/]" : name,
                Terminal.State(m.State),
                bar + string.Create(c, $" {fraction,4:P0}"),
                string.Create(c, $"{m.Step}/{m.TotalSteps}"),
                m.MemberId == bestId ? $"[bold green]{fitness}[/]" : fitness,
                $"[grey]{Markup.Escape(Brief(m.Hyperparameters))}[/]");
        }
        return table;
    }

    /// <summary>The plain table (redirected output, <c>status ID</c>), best fitness first.</summary>
    public static List<string> Table(SweepStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            string.Create(c, $"sweep {s.SweepId} ({s.Strategy}, {s.Members.Count} members, at most {s.Concurrency} at once): {s.State.ToString().ToLowerInvariant()}; fitness = {s.Fitness}"),
            string.Create(c, $"{"member",-28} {"state",-10} {"progress",-22} {"step",9} {"fitness",9}  hyperparameters"),
        };
        foreach (var m in Ranked(s))
        {
            double fraction = m.TotalSteps > 0 ? (double)m.Step / m.TotalSteps : 0;
            int filled = (int)Math.Round(fraction * 20);
            string bar = "[" + new string('#', filled) + new string('-', 20 - filled) + "]";
            string fitness = m.Fitness is double f ? f.ToString("F4", c) : "–";
            lines.Add(string.Create(c, $"{Trim(Name(s, m), 28),-28} {m.State.ToString().ToLowerInvariant(),-10} {bar,-22} {m.Step,9} {fitness,9}  {Trim(Short(m.Hyperparameters), 90)}"));
        }
        if (s.Best is { } best)
            lines.Add(string.Create(c, $"best so far: {best.MemberId} fitness {best.Fitness:F4} ({Short(best.Hyperparameters)})"));
        return lines;
    }

    /// <summary>A member's id without its sweep's prefix.</summary>
    private static string Name(SweepStatus s, SweepMember m) =>
        m.MemberId.StartsWith(s.SweepId + "-", StringComparison.Ordinal) ? m.MemberId[(s.SweepId.Length + 1)..] : m.MemberId;

    /// <summary>For the live table: each hyperparameter by the last part of its path (optimizer.beta1 as beta1), short decimals.</summary>
    private static string Brief(string hyperparameters) =>
        System.Text.RegularExpressions.Regex.Replace(Short(hyperparameters), @"[\w.]+\.(\w+)=", "$1=");

    /// <summary>Long decimals to four significant digits, for reading.</summary>
    private static string Short(string hyperparameters) =>
        System.Text.RegularExpressions.Regex.Replace(hyperparameters, @"\d+\.\d{5,}(E-?\d+)?", m =>
            double.Parse(m.Value, CultureInfo.InvariantCulture).ToString("G4", CultureInfo.InvariantCulture));

    private static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";

    public static string Leaderboard(SweepStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# Leaderboard of sweep {s.SweepId}");
        sb.AppendLine();
        sb.AppendLine(string.Create(c, $"Strategy {s.Strategy}, {s.Members.Count} members, at most {s.Concurrency} at once; fitness = {s.Fitness} (higher is better)."));
        sb.AppendLine();
        sb.AppendLine("| rank | member | population | status | step | fitness | hyperparameters |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- |");
        int rank = 1;
        foreach (var m in Ranked(s))
            sb.AppendLine(string.Create(c, $"| {rank++} | {m.MemberId} | {m.Population} | {m.State.ToString().ToLowerInvariant()} | {m.Step}/{m.TotalSteps} | {(m.Fitness is double f ? f.ToString("F4", c) : "–")} | `{m.Hyperparameters}` |"));
        return sb.ToString();
    }
}
