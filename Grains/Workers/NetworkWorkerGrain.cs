using GanCluster.Gan.Specs;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Data;
using GanCluster.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Workers;

/// <summary>
/// What the generator and discriminator workers share: one network built from the member's spec on a device, its
/// state saved to and restored from the checkpoint store, all torch work on <see cref="TorchCompute"/>'s threads.
/// A grain turn never runs two calls at once, so one worker is never stepped concurrently.
/// </summary>
public abstract class NetworkWorkerGrain<TModel>(TorchCompute compute, ICheckpointStore store) : Grain
    where TModel : class, IDisposable
{
    protected TorchCompute Compute { get; } = compute;
    protected TModel? Model { get; private set; }
    protected Device Device { get; private set; } = CPU;
    protected string MemberId => this.GetPrimaryKeyString();
    private Microsoft.Extensions.Logging.ILogger? logger;
    protected Microsoft.Extensions.Logging.ILogger Logger =>
        logger ??= ServiceProvider.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger(GetType().FullName ?? Role);

    /// <summary>"generator" or "discriminator": the checkpoint part name.</summary>
    protected abstract string Role { get; }
    protected abstract TModel Build(GanSpec spec, IRealData data, Device device);
    protected abstract long StepOf(TModel model);
    protected abstract void Save(TModel model, BinaryWriter writer);
    protected abstract void Load(TModel model, BinaryReader reader);
    protected abstract byte[] WeightsOf(TModel model);

    public async ValueTask<long> PrepareAsync(WorkerSetup setup)
    {
        if (setup.MemberId != MemberId) throw new ArgumentException($"setup for member {setup.MemberId} sent to the {Role} of {MemberId}");
        // The spec was validated where it entered the cluster (CoordinatorGrain.StartAsync, SweepGrain.SubmitAsync).
        var device = Compute.ResolveDevice(setup.Spec.Device);
        byte[]? state = setup.ResumeFrom is null ? null : await store.ReadPartAsync(setup.ResumeFrom);
        var model = await Compute.RunAsync(() =>
        {
            var built = Build(setup.Spec, RealData.FromSpec(setup.Spec.Data), device);
            try
            {
                if (state is not null)
                {
                    using var reader = new BinaryReader(new MemoryStream(state));
                    Load(built, reader);
                }
                return built;
            }
            catch
            {
                built.Dispose();
                throw;
            }
        });
        if (setup.ResumeFrom is not null && StepOf(model) != setup.ResumeFrom.Step)
        {
            await DisposeOnComputeAsync(model);
            throw new InvalidDataException($"{Role} checkpoint {store.Locate(setup.ResumeFrom)} holds step {StepOf(model)}, its manifest says {setup.ResumeFrom.Step}");
        }
        await DisposeOnComputeAsync(Model);
        Model = model;
        Device = device;
        // Where each worker lives, for operators (and the cluster tests) after a silo failure moves it.
        Telemetry.ClusterLog.WorkerReady(Logger, MemberId, Role, StepOf(model), device.ToString());
        return StepOf(model);
    }

    /// <summary>The model, if it stands at the coordinator's step; otherwise the coordinator must reload us.</summary>
    protected TModel Ready(long step)
    {
        var model = Model ?? throw new WorkerNotReadyException($"the {Role} of {MemberId} holds no network (fresh activation)");
        long at = StepOf(model);
        if (at != step) throw new WorkerNotReadyException($"the {Role} of {MemberId} is at step {at}, the coordinator at {step}");
        return model;
    }

    public async ValueTask<CheckpointFile> CheckpointAsync(long step)
    {
        var model = Ready(step);
        var bytes = await Compute.RunAsync(() =>
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                Save(model, writer);
            return stream.ToArray();
        });
        return await store.WritePartAsync(MemberId, step, Role, bytes);
    }

    public async ValueTask<byte[]> ExportWeightsAsync()
    {
        var model = Model ?? throw new WorkerNotReadyException($"the {Role} of {MemberId} holds no network");
        var weights = await Compute.RunAsync(() => WeightsOf(model));
        MessageLimits.EnsureFits(weights.LongLength, $"the {Role} weights of {MemberId}");
        ServiceProvider.GetService<Telemetry.GanMetrics>()?.Exchanged("weights", weights.LongLength);
        return weights;
    }

    public async ValueTask ReleaseAsync()
    {
        var model = Model;
        Model = null;
        await DisposeOnComputeAsync(model);
        DeactivateOnIdle();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        var model = Model;
        Model = null;
        await DisposeOnComputeAsync(model);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    // Freed where it was made: torch work stays on the compute threads, and their tensor accounting stays exact
    // (TorchSharp counts live tensors per thread; the memory benchmark reads those counts).
    private async Task DisposeOnComputeAsync(TModel? model)
    {
        if (model is null) return;
        try
        {
            await Compute.RunAsync(model.Dispose);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            model.Dispose(); // the silo is stopping and its compute threads are gone
        }
    }
}
