using GanCluster.Benchmarks;
using GanCluster.Client.Cli;

// dotnet run --project benchmarks -c Release -- --suite all|NAME[,NAME...] [--workloads ring,dcgan] [--quick] [--rounds N] [--steps N] [--out DIR]
string usage = $"usage: GanCluster.Benchmarks --suite all|{string.Join(",", BenchSuite.Names)} [--workloads ring,dcgan] [--quick] [--rounds N] [--steps N] [--dcgan-steps N] [--out DIR]";
try
{
    var line = CommandLine.Parse(BenchSuite.Syntax, args, rootVerb: "bench");
    if (line.Verb == "help")
    {
        CliSyntax.WriteHelp(BenchSuite.Syntax, [], Console.Out);
        return 0;
    }
    if (line.Immediate is { } directive) return directive.Invoke(new System.CommandLine.InvocationConfiguration { Output = Console.Out, Error = Console.Error });
    return await BenchSuite.ExecuteAsync(line);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(usage);
    return 2;
}
