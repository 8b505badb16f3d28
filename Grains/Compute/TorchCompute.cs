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
    /// <summary>
    /// Work that finds a compute slot free and nothing queued runs on the calling thread (a grain's turn) instead of
    /// being handed to a compute thread and back: two thread wake-ups fewer per call. At most <see cref="Threads"/>
    /// pieces of work run at once either way.
    /// </summary>
    public bool RunInline { get; set; } = true;
}

/// <summary>
/// Runs TorchSharp work on a few dedicated threads, off the Orleans scheduler. libtorch's intra-op thread count is a
/// per-OS-thread setting, so each compute thread sets it once; a grain awaits its work and resumes on its own turn.
/// An idle compute thread sleeps on a monitor without spinning first (a BlockingCollection's semaphore spins and
/// yields the core some dozens of times per wait: on a loaded machine that is CPU taken from the other compute
/// threads and silos, for work that comes milliseconds later, not microseconds).
/// With <see cref="ComputeOptions.RunInline"/> (the default), work that finds one of the Threads slots free and nothing
/// queued runs on the caller's thread: a lone member's grain call then costs no wake-up of a compute thread and no
/// wake-up of a pool thread for the continuation (one member on one silo: 13 thread sleeps per step → 2.5, +8 % steps/s;
/// BENCHMARKS.md). Under load the queue is rarely empty and the compute threads do the work, as before.
/// </summary>
public sealed class TorchCompute : IDisposable
{
    private readonly Queue<Action> queue = new();
    private readonly Thread[] threads;
    private readonly bool runInline;
    private readonly int intraOpThreads;
    // Work running now, on compute threads or inline; never more than the thread count.
    private int running;
    private int sleeping;
    private bool completed, disposed;
    // Thread-pool threads that inline work of all compute pools of this process may occupy at once.
    private static int InlineSlotsInProcess;
    private readonly int inlineSlots;
    // The intra-op thread count this OS thread was given (libtorch keeps it per thread); 0 before the first work here.
    [ThreadStatic] private static int configuredIntraOpThreads;

    public TorchCompute(IOptions<ComputeOptions> options, ILogger<TorchCompute>? logger = null)
    {
        var o = options.Value;
        string kernels = CpuKernels.EnsureConfigured();
        if (logger is not null) Telemetry.Log.ComputeStarted(logger, o.Threads, o.IntraOpThreads, o.Device, kernels);
        if (o.Threads < 1) throw new ArgumentException($"Gan:Compute:Threads must be at least 1, got {o.Threads}");
        if (o.IntraOpThreads < 1) throw new ArgumentException($"Gan:Compute:IntraOpThreads must be at least 1, got {o.IntraOpThreads}");
        DefaultDevice = o.Device;
        runInline = o.RunInline;
        intraOpThreads = o.IntraOpThreads;
        if (runInline)
        {
            // Inline work occupies up to Threads thread-pool threads for its duration (a DCGAN step: tens of ms):
            // the pool keeps that many more ready at once, for every compute pool in the process (tests host several
            // silos in one), so that Orleans' own turns and everything else never wait for the pool to grow.
            inlineSlots = o.Threads;
            int slots = Interlocked.Add(ref InlineSlotsInProcess, inlineSlots);
            ThreadPool.GetMinThreads(out int workers, out int ports);
            ThreadPool.SetMinThreads(Math.Max(workers, Environment.ProcessorCount + slots), ports);
        }
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
        configuredIntraOpThreads = intraOpThreads;
        while (Take() is { } work)
        {
            work();
            Finished();
        }
    }

    /// <summary>
    /// The next work item, sleeping until there is one and a slot is free; null once disposal has begun and the
    /// queue is empty.
    /// </summary>
    private Action? Take()
    {
        lock (queue)
        {
            while (queue.Count == 0 || running >= threads.Length)
            {
                if (completed && queue.Count == 0) return null;
                sleeping++;
                Monitor.Wait(queue);
                sleeping--;
            }
            running++;
            return queue.Dequeue();
        }
    }

    /// <summary>A slot is free again: wake a compute thread if work waits for one.</summary>
    private void Finished()
    {
        lock (queue)
        {
            running--;
            if (queue.Count > 0 && sleeping > 0) Monitor.Pulse(queue);
        }
    }

    /// <summary>Queues the work, or claims a slot for the caller to run it itself (true) when one is free and nothing waits.</summary>
    private bool AddOrClaim(Action work)
    {
        lock (queue)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (completed) throw new InvalidOperationException("the compute threads are stopping: no new work is accepted");
            if (runInline && queue.Count == 0 && running < threads.Length)
            {
                running++;
                return true;
            }
            queue.Enqueue(work);
            // Every sleeper may be a thread that waits for a slot rather than for work: wake them all to re-check.
            if (sleeping > 0) Monitor.PulseAll(queue);
            return false;
        }
    }

    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Work()
        {
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
        }
        if (AddOrClaim(Work))
        {
            // Inline: on this thread, with the compute threads' libtorch setting, then the slot goes back.
            try
            {
                if (configuredIntraOpThreads != intraOpThreads)
                {
                    set_num_threads(intraOpThreads);
                    configuredIntraOpThreads = intraOpThreads;
                }
                Work();
            }
            finally { Finished(); }
        }
        return done.Task;
    }

    public Task RunAsync(Action work) => RunAsync(() => { work(); return true; });

    /// <summary>Nothing runs and nothing waits: this silo's compute is free right now.</summary>
    public bool IsIdle
    {
        get
        {
            lock (queue) return running == 0 && queue.Count == 0;
        }
    }

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
        Interlocked.Add(ref InlineSlotsInProcess, -inlineSlots);
    }
}
