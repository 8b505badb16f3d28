using GanCluster.Gan.Specs;

namespace GanCluster.Tests.Support;

/// <summary>Small seeded specs that train in seconds on a CPU.</summary>
public static class TestSpecs
{
    public static GanSpec SmallRing(long steps = 200, long seed = 7) => new()
    {
        Name = "test-ring",
        Seed = seed,
        Data = new DataSpec { Kind = "ring", Modes = 8, Radius = 1.0, Std = 0.05 },
        Model = new ModelSpec
        {
            NoiseDim = 2,
            Generator = new NetworkSpec { Width = 64, Depth = 2 },
            Discriminator = new NetworkSpec { Width = 64, Depth = 2 },
        },
        Optimizer = new OptimizerSpec { GeneratorLr = 1e-3, DiscriminatorLr = 1e-3, Beta1 = 0.5, Beta2 = 0.999 },
        Training = new TrainingSpec { Steps = steps, BatchSize = 128, DStepsPerGStep = 1, LogEvery = 10 },
        Evaluation = new EvaluationSpec { Every = Math.Max(1, steps / 2), Samples = 1000, MinSamplesPerMode = 10 },
        Checkpoint = new CheckpointSpec { Every = Math.Max(1, steps / 4), Keep = 10 },
    };

    public static string ExamplesDirectory => Path.Combine(GanCluster.Gan.Data.RepositoryRoot.Require(), "examples");
}

public static class Eventually
{
    /// <summary>Polls a condition (bounded in time); for waiting on background training in tests.</summary>
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await probe();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}; last value: {value}");
            await Task.Delay(50);
        }
    }
}

public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("gancluster-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
