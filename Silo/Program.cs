using GanCluster.Silo;
using Microsoft.Extensions.Options;

// The silo process: Orleans, /metrics, /health, the optional Orleans dashboard and Serilog; wiring lives in GanSiloApp.
GanCluster.Silo.Hosting.SocketCompletions.InlineUnlessConfigured(); // before any socket exists
GanCluster.Gan.Compute.CpuKernels.EnsureConfigured(); // before libtorch's first matrix product
try
{
    var app = GanSiloApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (ConfigurationError(e) is { } message)
{
    // A bad setting or command-line value: say which, without a stack trace, and start nothing.
    Console.Error.WriteLine($"error: {message}");
    return 2;
}

static string? ConfigurationError(Exception e) => e switch
{
    OptionsValidationException o => string.Join("; ", o.Failures),
    ArgumentException a => a.Message,
    AggregateException { InnerExceptions.Count: 1 } g => ConfigurationError(g.InnerException!),
    _ => null,
};
