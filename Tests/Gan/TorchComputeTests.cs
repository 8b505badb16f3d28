using GanCluster.Gan.Compute;
using Microsoft.Extensions.Options;
using GanCluster.Grains.Compute;

namespace GanCluster.Tests.Gan;

public sealed class TorchComputeTests
{
    private static TorchCompute New(int threads) =>
        new(Options.Create(new ComputeOptions { Threads = threads, IntraOpThreads = 1 }));

    [Fact]
    public async Task Work_runs_on_a_compute_thread_never_the_callers()
    {
        using var compute = New(threads: 1);
        string? name = await compute.RunAsync(() => Thread.CurrentThread.Name);
        Assert.Equal("torch-compute-0", name);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task No_more_work_runs_at_once_than_there_are_compute_threads(int threads)
    {
        using var compute = New(threads);
        int now = 0, most = 0;
        int Work()
        {
            int n = Interlocked.Increment(ref now);
            int seen;
            while ((seen = Volatile.Read(ref most)) < n && Interlocked.CompareExchange(ref most, n, seen) != seen) { }
            // Hold the slot for a while (no timing is asserted): the 24 callers then overlap, and a broken bound shows.
            Thread.Sleep(15);
            Interlocked.Decrement(ref now);
            return n;
        }
        // Callers on many pool threads at once: all queue for the compute threads.
        var calls = Enumerable.Range(0, 24).Select(_ => Task.Run(() => compute.RunAsync(Work))).ToArray();
        await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.InRange(most, 1, threads);
        Assert.Equal(0, now);
    }

    [Fact]
    public async Task A_failure_comes_back_through_the_task()
    {
        using var compute = New(threads: 1);
        var task = compute.RunAsync<int>(() => throw new InvalidOperationException("boom"));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => task);
        Assert.Equal("boom", e.Message);
        Assert.Equal(3, await compute.RunAsync(() => 3)); // the slot was given back
    }
}
