using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace GanCluster.Client.Cli;

/// <summary>Bad command-line usage: one <c>error:</c> line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// A parsed command line: the verb, its positional arguments and its options (repeatable ones keep every value), in
/// the shape the commands consume. System.CommandLine parses (<see cref="CliSyntax"/> declares every command and
/// option); this maps its parse result onto the verb, arguments and options, and turns its errors into the client's
/// one-line messages, with the library's typo suggestion where it has one.
/// </summary>
public sealed class CommandLine
{
    public required string Verb { get; init; }
    public List<string> Arguments { get; } = [];
    public Dictionary<string, List<string>> Options { get; } = [];

    /// <summary>A directive the library answers instead of a command (<c>[suggest:N]</c>: shell completion); null otherwise.</summary>
    public ParseResult? Immediate { get; private init; }

    /// <summary>The command whose help was asked for (<c>help COMMAND</c>, <c>COMMAND --help</c>); empty for the whole usage.</summary>
    public IReadOnlyList<string> HelpFor { get; private init; } = [];

    /// <summary>The client's command line (<see cref="CliSyntax.Gancluster"/>).</summary>
    public static CommandLine Parse(string[] args) => Parse(CliSyntax.Gancluster, args);

    /// <summary>
    /// Parses <paramref name="args"/> against <paramref name="root"/>. <paramref name="rootVerb"/> names the verb when
    /// the root itself is the command (a program with no subcommands, like the benchmarks).
    /// </summary>
    public static CommandLine Parse(RootCommand root, IReadOnlyList<string> args, string? rootVerb = null)
    {
        if (args.Count == 0 && rootVerb is null) throw new UsageException("no command given");
        var result = root.Parse(args, CliSyntax.Parser);
        var command = result.CommandResult;

        // Help (help, --help, COMMAND --help) and completions ([suggest:N] "command line", what dotnet-suggest asks)
        // are the library's to answer.
        if (result.Action is HelpAction)
            return new CommandLine { Verb = "help", HelpFor = [.. Words(command)] };
        if (result.Action is not null and not ParseErrorAction) return new CommandLine { Verb = "[directive]", Immediate = result };
        if (command.Command.Name == "help" && command.Parent is CommandResult { Parent: null })
        {
            // help [COMMAND]: the whole usage, or that command's help.
            var about = command.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value).Concat(result.UnmatchedTokens).ToList();
            Command target = root;
            var path = new List<string>();
            foreach (var word in about)
            {
                path.Add(word);
                target = target.Subcommands.FirstOrDefault(c => c.Name == word)
                    ?? throw new UsageException($"help: unknown command '{string.Join(' ', path)}'{DidYouMean(root, [.. path])}");
            }
            return new CommandLine { Verb = "help", HelpFor = path };
        }

        string verb = command.Parent is null ? rootVerb ?? "" : Path(command);
        if (command.Parent is null && rootVerb is null)
        {
            // No command matched: the first word is not one.
            string word = result.UnmatchedTokens.FirstOrDefault() ?? args[0];
            throw new UsageException($"unknown command '{word}'{DidYouMean(root, [word])}");
        }
        if (command.Command.Subcommands.Count > 0 && command.Command.Action is null)
        {
            // A group (experiment) without one of its commands.
            string word = result.UnmatchedTokens.FirstOrDefault() ?? "";
            throw new UsageException($"{verb}: the known {Plural(command.Command)} {string.Join(", ", command.Command.Subcommands.Select(c => $"'{c.Name}'"))}"
                + (word.Length > 0 ? DidYouMean(root, [.. verb.Split(' '), word]) : ""));
        }

        var line = new CommandLine { Verb = verb };
        // Options in the order given (a repeatable one keeps every value); words the library could not place are
        // arguments (the command says how many it takes) unless they look like an option.
        var unknown = new List<string>();
        foreach (var child in command.Children)
        {
            switch (child)
            {
                case OptionResult { Implicit: false } option when option.Option is not HelpOption:
                    string name = option.Option.Name;
                    bool flag = option.Option.Arity.MaximumNumberOfValues == 0 || option.Option.ValueType == typeof(bool);
                    if (option.IdentifierTokenCount > 1 && !CliSyntax.IsRepeatable(option.Option)) throw new UsageException($"{name} given twice");
                    if (flag)
                    {
                        bool on = true;
                        if (option.Tokens.Count > 0 && !bool.TryParse(option.Tokens[^1].Value, out on)) throw new UsageException($"{name} takes no value");
                        if (on) line.Options[name] = ["true"]; // --new false: as if not given
                        break;
                    }
                    if (option.Tokens.Count == 0) throw new UsageException($"{name} needs a value");
                    line.Options[name] = [.. option.Tokens.Select(t => t.Value)];
                    break;
                case ArgumentResult argument:
                    foreach (var token in argument.Tokens)
                        if (LooksLikeOption(token.Value)) unknown.Add(token.Value);
                        else line.Arguments.Add(token.Value);
                    break;
            }
        }
        foreach (var token in result.UnmatchedTokens)
            if (LooksLikeOption(token)) unknown.Add(token);
            else line.Arguments.Add(token);
        if (unknown.Count > 0)
        {
            var allowed = command.Command.Options.Where(o => o is not HelpOption).Select(o => o.Name);
            string word = unknown[0].Split('=', 2)[0];
            string[] probe = [.. Words(command), .. command.Command.Arguments.Count > 0 ? ["_"] : Array.Empty<string>(), word];
            throw new UsageException($"unknown option {word} for '{verb}' (allowed: {string.Join(", ", allowed)}){DidYouMean(root, probe)}");
        }
        // Anything else the library found wrong (a value it cannot read, say): its own message, one line.
        var other = result.Errors.FirstOrDefault(e => e.SymbolResult is OptionResult);
        if (other is not null) throw new UsageException(other.Message);
        return line;
    }

    public string? Option(string name) => Options.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> All(string name) => Options.TryGetValue(name, out var v) ? v : [];

    public void AllowOnly(params string[] names)
    {
        foreach (var name in Options.Keys)
            if (!names.Contains(name)) throw new UsageException($"unknown option {name} for '{Verb}' (allowed: {string.Join(", ", names)})");
    }

    private static bool LooksLikeOption(string token) => token.Length > 2 && token.StartsWith("--", StringComparison.Ordinal);

    private static string Plural(Command group) => group.Subcommands.Count == 1 ? $"{group.Name} is" : $"{group.Name}s are";

    private static IEnumerable<string> Words(CommandResult command)
    {
        var words = new Stack<string>();
        for (var c = command; c?.Parent is not null; c = c.Parent as CommandResult) words.Push(c.Command.Name);
        return words;
    }

    private static string Path(CommandResult command) => string.Join(' ', Words(command));

    /// <summary>
    /// The library's typo correction for the last word of <paramref name="words"/> (it suggests the commands or
    /// options within a small edit distance), as "; did you mean X?", or nothing when it has no suggestion.
    /// </summary>
    internal static string DidYouMean(RootCommand root, string[] words)
    {
        var suggestions = Suggestions(root, words);
        return suggestions.Count switch
        {
            0 => "",
            1 => $"; did you mean {suggestions[0]}?",
            _ => $"; did you mean one of {string.Join(", ", suggestions)}?",
        };
    }

    internal static IReadOnlyList<string> Suggestions(RootCommand root, string[] words)
    {
        var result = root.Parse(words, CliSyntax.Parser);
        if (result.Action is not ParseErrorAction action) return [];
        action.ShowHelp = false;
        action.ShowTypoCorrections = true;
        var output = new StringWriter();
        result.Invoke(new InvocationConfiguration { Output = output, Error = TextWriter.Null, EnableDefaultExceptionHandler = false });
        // "'stauts' was not matched. Did you mean one of the following?" and then one suggestion a line.
        return output.ToString().Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.Contains(' ', StringComparison.Ordinal) && l != words[^1])
            .Distinct().ToList();
    }
}
