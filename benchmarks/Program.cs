using GanCluster.Benchmarks;
using GanCluster.Client.Cli;

// dotnet run --project benchmarks -c Release -- --suite all|NAME[,NAME...] [--workloads ring,dcgan] [--quick] [--rounds N] [--steps N] [--out DIR]
try
{
    return await BenchSuite.ExecuteAsync(CommandLine.Parse(["bench", .. args]));
}
catch (UsageException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine($"usage: GanCluster.Benchmarks --suite all|{string.Join(",", BenchSuite.Names)} [--workloads ring,dcgan] [--quick] [--rounds N] [--steps N] [--dcgan-steps N] [--out DIR]");
    return 2;
}
