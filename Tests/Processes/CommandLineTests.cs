using GanCluster.Tests.Support;
using Xunit.Abstractions;

namespace GanCluster.Tests.Processes;

/// <summary>
/// The client's command line through the real executable (System.CommandLine parses it, Spectre.Console draws on a
/// terminal): each command's own --help, a near name suggested for a mistyped command or option, shell completion
/// answers, and plain lines, without one escape sequence, when stdout is not a terminal (as here, in CI and in pipes).
/// </summary>
[Collection(ProcessCollection.Name)]
public class CommandLineTests(ITestOutputHelper output)
{
    private static async Task<(int Code, string Output)> ClientAsync(string work, params string[] args)
    {
        using var client = new ClientProcess(work, args);
        int code = await client.ExitCodeAsync(TimeSpan.FromMinutes(2));
        return (code, client.Output);
    }

    [Theory]
    [InlineData(new[] { "run", "--help" }, "gancluster run", "--member <ID>")]
    [InlineData(new[] { "submit", "-h" }, "gancluster submit", "--new")]
    [InlineData(new[] { "help", "export" }, "gancluster export", "--format <FORMAT>")]
    [InlineData(new[] { "experiment", "mode-collapse", "--help" }, "gancluster experiment mode-collapse", "--ring-steps <N>")]
    [InlineData(new[] { "watch", "ID", "--help" }, "gancluster watch", "--cluster <HOST:PORT>")]
    public async Task Each_command_has_its_own_help_exit_0(string[] args, string usage, string option)
    {
        using var dir = new TempDirectory();
        var (code, text) = await ClientAsync(dir.Path, args);
        Assert.True(code == 0, $"exit {code}:\n{text}");
        Assert.Contains("Usage:", text);
        Assert.Contains(usage, text);
        Assert.Contains(option, text);
        Assert.DoesNotContain("exit codes:", text); // not the whole usage
    }

    [Theory]
    [InlineData("help")]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_and_dash_dash_help_print_the_whole_usage_exit_0(string arg)
    {
        using var dir = new TempDirectory();
        var (code, text) = await ClientAsync(dir.Path, arg);
        Assert.True(code == 0, $"exit {code}:\n{text}");
        Assert.Contains("gancluster run SPEC", text);
        Assert.Contains("exit codes: 0 done, 2 bad input", text);
    }

    [Theory]
    [InlineData(new[] { "stauts", "--cluster", "127.0.0.1:9" }, "error: unknown command 'stauts'; did you mean status?")]
    [InlineData(new[] { "bench", "x.json", "--stesp", "10" }, "error: unknown option --stesp for 'bench' (allowed: --set, --steps, --warmup, --repeats); did you mean --steps?")]
    [InlineData(new[] { "export", "m", "--fromat", "onnx" }, "error: unknown option --fromat for 'export'")]
    [InlineData(new[] { "experiment", "mode-colapse" }, "error: experiment: the known experiment is 'mode-collapse'; did you mean mode-collapse?")]
    public async Task A_mistyped_command_or_option_is_one_error_line_first_with_a_suggestion_exit_2(string[] args, string expected)
    {
        using var dir = new TempDirectory();
        var (code, text) = await ClientAsync(dir.Path, args);
        Assert.True(code == 2, $"exit {code}:\n{text}");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith(expected, lines[0]);
        Assert.Single(lines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", text);
    }

    [Fact]
    public async Task The_suggest_directive_answers_shell_completion()
    {
        using var dir = new TempDirectory();
        var (code, text) = await ClientAsync(dir.Path, "[suggest:4]", "stat");
        Assert.True(code == 0, $"exit {code}:\n{text}");
        Assert.Equal("status", text.Trim());
        (code, text) = await ClientAsync(dir.Path, "[suggest:18]", "export m --format ");
        Assert.True(code == 0, $"exit {code}:\n{text}");
        Assert.Equal(["pytorch", "safetensors", "torchsharp"], text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        (code, text) = await ClientAsync(dir.Path, "[suggest:6]", "run --");
        Assert.Contains("--member", text.Split('\n', StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Redirected_output_is_plain_lines_for_a_run_and_a_sweep()
    {
        using var dir = new TempDirectory();
        string data = Path.Combine(dir.Path, "data");
        string outDir = Path.Combine(dir.Path, "run");
        var (code, text) = await ClientAsync(dir.Path, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8.json"),
            "--set", "training.steps=300", "--set", "evaluation.every=300", "--set", "checkpoint.every=300", "--out", outDir, "--data", data);
        output.WriteLine(text);
        Assert.True(code == 0, $"exit {code}:\n{text}");
        AssertPlain(text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains($"output: {outDir}", lines);
        Assert.Contains(lines, l => l.StartsWith("[####################] 300/300 100 % Completed", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(": completed at step 300/300", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith($"wrote {Path.Combine(outDir, "report.json")}", StringComparison.Ordinal));

        string sweepDir = Path.Combine(dir.Path, "sweep");
        (code, text) = await ClientAsync(dir.Path, "run", Path.Combine(TestSpecs.ExamplesDirectory, "ring8-random.json"),
            "--set", "training.steps=100", "--set", "evaluation.every=100", "--set", "checkpoint.every=100",
            "--set", "search.membersPerPopulation=2", "--set", "search.concurrency=2", "--out", sweepDir, "--data", data);
        output.WriteLine(text);
        Assert.True(code == 0, $"exit {code}:\n{text}");
        AssertPlain(text);
        lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("sweep ", StringComparison.Ordinal) && l.Contains("(random, 2 members, at most 2 at once): completed", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("best so far: ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith($"wrote {Path.Combine(sweepDir, "report.json")}, leaderboard.md", StringComparison.Ordinal));
    }

    private static void AssertPlain(string text)
    {
        Assert.DoesNotContain('\u001b', text); // no colour, no cursor movement
        Assert.DoesNotContain('\r', text);
        Assert.DoesNotContain("━", text); // Spectre's bars
    }
}
