using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using Spectre.Console;

namespace GanCluster.Client.Cli;

/// <summary>
/// Whether the console is a terminal that Spectre.Console can redraw in place (live progress, live table), and the
/// colours of the states. When stdout is redirected (a pipe, a file, a CI log, every test) the views print plain
/// lines instead, and nothing here writes an escape sequence.
/// </summary>
public static class Terminal
{
    /// <summary>
    /// Live rendering: stdout is a terminal and Spectre agrees it is interactive with ANSI support (it says no on CI
    /// services and TERM=dumb). GANCLUSTER_PLAIN=1 asks for the plain lines on a terminal too.
    /// </summary>
    public static bool IsLive =>
        !Console.IsOutputRedirected
        && Environment.GetEnvironmentVariable("GANCLUSTER_PLAIN") is not ("1" or "true")
        && AnsiConsole.Profile.Capabilities is { Interactive: true, Ansi: true };

    /// <summary>A line above whatever is being redrawn (a resume note, an interruption), or a plain line.</summary>
    public static void WriteLine(string text, bool live)
    {
        if (live) AnsiConsole.MarkupLine(Markup.Escape(text));
        else Console.WriteLine(text);
    }

    public static string Colour(MemberState state) => state switch
    {
        MemberState.Pending => "grey",
        MemberState.Running => "deepskyblue1",
        MemberState.Paused => "yellow",
        MemberState.Completed => "green",
        MemberState.Cancelled => "mediumpurple",
        MemberState.Diverged => "darkorange",
        MemberState.Failed => "red",
        _ => "default",
    };

    public static string Colour(SweepState state) => state switch
    {
        SweepState.Running => "deepskyblue1",
        SweepState.Paused => "yellow",
        SweepState.Completed => "green",
        SweepState.Cancelled => "mediumpurple",
        _ => "default",
    };

    /// <summary>The state in lower case, in its colour (markup).</summary>
    public static string State(MemberState state) => $"[{Colour(state)}]{state.ToString().ToLowerInvariant()}[/]";

    public static string State(SweepState state) => $"[{Colour(state)}]{state.ToString().ToLowerInvariant()}[/]";
}
