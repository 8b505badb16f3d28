using System.Globalization;
using System.Text;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;

namespace GanCluster.Client.Cli;

/// <summary>
/// The live table of a sweep, fed by its grain through an observer: redrawn in place on a terminal, printed every
/// ten seconds when the output is redirected.
/// </summary>
public sealed class SweepView : ISweepObserver
{
    private readonly TaskCompletionSource<SweepStatus> finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool interactive = !Console.IsOutputRedirected;
    private readonly Lock gate = new();
    private int drawnLines;
    private DateTime lastPrint = DateTime.MinValue;

    public Task<SweepStatus> Finished => finished.Task;
    public SweepStatus? Latest { get; private set; }

    public Task OnSweepProgressAsync(SweepStatus status)
    {
        Show(status);
        return Task.CompletedTask;
    }

    public void Show(SweepStatus status)
    {
        lock (gate)
        {
            Latest = status;
            bool done = status.State is SweepState.Completed or SweepState.Cancelled;
            if (interactive)
            {
                var lines = Table(status);
                if (drawnLines > 0) Console.Write($"\x1b[{drawnLines}A");
                foreach (var line in lines) Console.WriteLine("\x1b[2K" + line);
                drawnLines = lines.Count;
            }
            else if (DateTime.UtcNow - lastPrint > TimeSpan.FromSeconds(10) || (done && !finished.Task.IsCompleted))
            {
                foreach (var line in Table(status)) Console.WriteLine(line);
                lastPrint = DateTime.UtcNow;
            }
            if (done) finished.TrySetResult(status);
        }
    }

    public static List<string> Table(SweepStatus s)
    {
        var c = CultureInfo.InvariantCulture;
        var lines = new List<string>
        {
            string.Create(c, $"sweep {s.SweepId} ({s.Strategy}, {s.Members.Count} members, at most {s.Concurrency} at once): {s.State.ToString().ToLowerInvariant()}; fitness = {s.Fitness}"),
            string.Create(c, $"{"member",-28} {"state",-10} {"progress",-22} {"step",9} {"fitness",9}  hyperparameters"),
        };
        foreach (var m in s.Members)
        {
            double fraction = m.TotalSteps > 0 ? (double)m.Step / m.TotalSteps : 0;
            int filled = (int)Math.Round(fraction * 20);
            string bar = "[" + new string('#', filled) + new string('-', 20 - filled) + "]";
            string fitness = m.Fitness is double f ? f.ToString("F4", c) : "–";
            string name = m.MemberId.StartsWith(s.SweepId + "-", StringComparison.Ordinal) ? m.MemberId[(s.SweepId.Length + 1)..] : m.MemberId;
            lines.Add(string.Create(c, $"{Trim(name, 28),-28} {m.State.ToString().ToLowerInvariant(),-10} {bar,-22} {m.Step,9} {fitness,9}  {Trim(Short(m.Hyperparameters), 90)}"));
        }
        if (s.Best is { } best)
            lines.Add(string.Create(c, $"best so far: {best.MemberId} fitness {best.Fitness:F4} ({Short(best.Hyperparameters)})"));
        return lines;
    }

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
        foreach (var m in s.Members.OrderByDescending(m => m.Fitness ?? double.NegativeInfinity))
            sb.AppendLine(string.Create(c, $"| {rank++} | {m.MemberId} | {m.Population} | {m.State.ToString().ToLowerInvariant()} | {m.Step}/{m.TotalSteps} | {(m.Fitness is double f ? f.ToString("F4", c) : "–")} | `{m.Hyperparameters}` |"));
        return sb.ToString();
    }
}
