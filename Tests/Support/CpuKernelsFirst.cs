using System.Runtime.CompilerServices;
using GanCluster.Gan.Compute;

namespace GanCluster.Tests.Support;

internal static class CpuKernelsFirst
{
    /// <summary>
    /// The test process settles libtorch's CPU kernels before any test runs, as the silo and client do first thing,
    /// so that every test (even one that multiplies matrices before it builds a network) sees one MKL path.
    /// </summary>
#pragma warning disable CA2255 // a test assembly's start-up, not a library's
    [ModuleInitializer]
    internal static void Configure() => CpuKernels.EnsureConfigured();
#pragma warning restore CA2255
}
