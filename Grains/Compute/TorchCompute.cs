using GanCluster.Gan.Compute;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace GanCluster.Grains.Compute;

public sealed class ComputeOptions
{
    /// <summary>Default device of this silo's workers: cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>Dedicated compute threads; parallelism comes from members running at once.</summary>
    public int Threads { get; set; } = Environment.ProcessorCount;
    /// <summary>libtorch intra-op threads per compute thread (per OS thread in TorchSharp).</summary>
    public int IntraOpThreads { get; set; } = 1;
}

/// <summary>
/// Runs TorchSharp work on a few dedicated threads, off the Orleans scheduler (a grain turn never runs torch work: it
/// awaits it and resumes on its own turn). libtorch's intra-op thread count is a per-OS-thread setting, so each compute
/// thread sets it once. An idle compute thread sleeps on a monitor without spinning first.
/// </summary>
public sealed class TorchCompute : IDisposable
{
    private readonly Queue<Action> queue = new();
    private readonly Thread[] threads;
    private int sleeping;
    private bool completed, disposed;

    public TorchCompute(IOptions<ComputeOptions> options, ILogger<TorchCompute>? logger = null)
    {
        var o = options.Value;
        string kernels = CpuKernels.EnsureConfigured();
        if (logger is not null) Telemetry.Log.ComputeStarted(logger, o.Threads, o.IntraOpThreads, o.Device, kernels);
        if (o.Threads < 1) throw new ArgumentException($"Gan:Compute:Threads must be at least 1, got {o.Threads}");
        if (o.IntraOpThreads < 1) throw new ArgumentException($"Gan:Compute:IntraOpThreads must be at least 1, got {o.IntraOpThreads}");
        DefaultDevice = o.Device;
        threads = new Thread[o.Threads];
        for (int i = 0; i < threads.Length; i++)
        {
            threads[i] = new Thread(() => Run(o.IntraOpThreads)) { IsBackground = true, Name = $"torch-compute-{i}" };
            threads[i].Start();
        }
    }

    public string DefaultDevice { get; }

    public int ThreadCount => threads.Length;

    private void Run(int intraOpThreads)
    {
        set_num_threads(intraOpThreads);
        while (Take() is { } work) work();
    }

    /// <summary>The next work item, sleeping until there is one; null once disposal has begun and the queue is empty.</summary>
    private Action? Take()
    {
        lock (queue)
        {
            while (queue.Count == 0)
            {
                if (completed && queue.Count == 0) return null;
                sleeping++;
                Monitor.Wait(queue);
                sleeping--;
            }
            return queue.Dequeue();
        }
    }

    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (queue)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (completed) throw new InvalidOperationException("the compute threads are stopping: no new work is accepted");
            queue.Enqueue(() =>
            {
                try { done.SetResult(work()); }
                catch (Exception e) { done.SetException(e); }
            });
            if (sleeping > 0) Monitor.Pulse(queue);
        }
        return done.Task;
    }

    public Task RunAsync(Action work) => RunAsync(() => { work(); return true; });

    /// <summary>Resolves a spec's device ("auto" means this silo's default) and checks that this silo has it.</summary>
    public Device ResolveDevice(string requested)
    {
        string name = requested == "auto" ? DefaultDevice : requested;
        if (name == "cpu") return CPU;
        if (name == "cuda" || name.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new ArgumentException($"device: '{name}' requested but this silo has no CUDA device (CPU build or no GPU)");
            return device(name);
        }
        throw new ArgumentException($"device: unknown device '{name}' (auto, cpu, cuda, cuda:N)");
    }

    public void Dispose()
    {
        lock (queue)
        {
            if (completed) return;
            completed = true;
            Monitor.PulseAll(queue);
        }
        // Work already queued still runs (its callers await it); then the threads end.
        foreach (var t in threads) t.Join(TimeSpan.FromSeconds(5));
        lock (queue) disposed = true;
    }
}
