using GanCluster.Client.Cli;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using Spectre.Console;

namespace GanCluster.Tests.Reports;

/// <summary>The sweep's table: best fitness first, plain for redirected output, a colour per state on a terminal.</summary>
public class SweepViewTests
{
    private static readonly MemberState[] States = Enum.GetValues<MemberState>();

    /// <summary>One member per state, fitness rising with the state's number except the pending one (none yet).</summary>
    private static SweepStatus Status() => new()
    {
        SweepId = "s",
        Strategy = "random",
        Concurrency = 2,
        Fitness = "modes covered fraction × high-quality fraction",
        Members = States.Select((state, i) => new SweepMember($"s-p0-m{i}", 0, state, 10 * i, 100,
            state == MemberState.Pending ? null : 0.1 * i, $"optimizer.generatorLr=0.00{i + 1}", true)).ToArray(),
    };

    [Fact]
    public void The_plain_table_lists_members_best_first_and_ends_with_the_best()
    {
        var lines = SweepView.Table(Status());
        Assert.StartsWith("sweep s (random, 7 members, at most 2 at once): running; fitness = ", lines[0]);
        var members = lines.Skip(2).Take(States.Length).Select(l => l.Split(' ')[0]).ToList();
        Assert.Equal(["p0-m6", "p0-m5", "p0-m4", "p0-m3", "p0-m2", "p0-m1", "p0-m0"], members);
        Assert.Equal("best so far: s-p0-m6 fitness 0.6000 (optimizer.generatorLr=0.007)", lines[^1]);
        Assert.DoesNotContain(lines, l => l.Contains('\u001b'));
    }

    [Fact]
    public void The_live_table_is_sorted_by_fitness_with_a_colour_per_state()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.EightBit,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        console.Write(SweepView.LiveTable(Status()));
        string text = output.ToString();

        // Rows best first (the pending member, without fitness, last).
        var order = Enumerable.Range(0, States.Length).Select(i => (i, text.IndexOf($"p0-m{i}", StringComparison.Ordinal))).ToList();
        Assert.All(order, o => Assert.True(o.Item2 >= 0, $"p0-m{o.i} missing:\n{text}"));
        Assert.Equal([6, 5, 4, 3, 2, 1, 0], order.OrderBy(o => o.Item2).Select(o => o.i));

        // Each state's word comes right after its own colour's escape sequence: seven states, seven colours.
        var styles = States.Select(state => StyleBefore(text, state.ToString().ToLowerInvariant())).ToList();
        Assert.All(styles, s => Assert.StartsWith("\u001b[38;5;", s));
        Assert.Equal(States.Length, styles.Distinct().Count());
    }

    [Fact]
    public void The_live_progress_shows_the_eta_at_the_members_speed_and_the_losses_beneath()
    {
        var running = new MemberStatus { MemberId = "m", State = MemberState.Running, Step = 100, TotalSteps = 1100, StepsPerSecond = 100 };
        Assert.Equal("ETA 0:00:10  100 steps/s", ProgressView.Eta(running));
        Assert.Equal("", ProgressView.Eta(running with { State = MemberState.Completed }));
        Assert.Equal("", ProgressView.Details(running));
        Assert.Equal("evaluating…", ProgressView.Details(running with { Activity = "evaluating" }));
    }

    private static string StyleBefore(string text, string word)
    {
        int at = text.IndexOf(word + "\u001b[0m", StringComparison.Ordinal);
        Assert.True(at > 0, $"no coloured '{word}' in:\n{text}");
        int escape = text.LastIndexOf('\u001b', at - 1);
        return text[escape..at];
    }
}
