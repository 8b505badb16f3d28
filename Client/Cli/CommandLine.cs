namespace GanCluster.Client.Cli;

/// <summary>Bad command-line usage: printed with the usage text, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A parsed command line: the verb, its positional arguments and its options (repeatable ones keep every value).</summary>
public sealed class CommandLine
{
    private static readonly HashSet<string> Flags = ["--help", "-h", "--quick", "--new"];
    private static readonly HashSet<string> Repeatable = ["--set"];

    public required string Verb { get; init; }
    public List<string> Arguments { get; } = [];
    public Dictionary<string, List<string>> Options { get; } = [];

    public static CommandLine Parse(string[] args)
    {
        if (args.Length == 0) throw new UsageException("no command given");
        var line = new CommandLine { Verb = args[0] };
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal) && a != "-h") { line.Arguments.Add(a); continue; }
            string name = a, value;
            int eq = a.IndexOf('=');
            if (eq > 0 && !Repeatable.Contains(a[..eq])) { name = a[..eq]; value = a[(eq + 1)..]; }
            else if (Flags.Contains(a)) value = "true";
            else if (i + 1 < args.Length) value = args[++i];
            else throw new UsageException($"{a} needs a value");
            if (!line.Options.TryGetValue(name, out var values)) line.Options[name] = values = [];
            if (values.Count > 0 && !Repeatable.Contains(name)) throw new UsageException($"{name} given twice");
            values.Add(value);
        }
        return line;
    }

    public string? Option(string name) => Options.TryGetValue(name, out var v) ? v[^1] : null;

    public IReadOnlyList<string> All(string name) => Options.TryGetValue(name, out var v) ? v : [];

    public void AllowOnly(params string[] names)
    {
        foreach (var name in Options.Keys)
            if (!names.Contains(name)) throw new UsageException($"unknown option {name} for '{Verb}' (allowed: {string.Join(", ", names)})");
    }
}
