using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Workers;

[Hosting.DevicePlacement]
public sealed partial class DiscriminatorWorkerGrain(TorchCompute compute, ICheckpointStore store, GeneratorLoans loans, WorkerLinks links)
    : NetworkWorkerGrain<DiscriminatorModel>(compute, store), IDiscriminatorWorkerGrain
{
    protected override string Role => "discriminator";
    protected override DiscriminatorModel Build(GanSpec spec, IRealData data, Device device) => new(spec, data, device);
    protected override long StepOf(DiscriminatorModel model) => model.Step;
    protected override void Save(DiscriminatorModel model, BinaryWriter writer) => model.Save(writer);
    protected override void Load(DiscriminatorModel model, BinaryReader reader) => model.Load(reader);
    protected override byte[] WeightsOf(DiscriminatorModel model) => model.WeightBytes();

    public async ValueTask<AlternatingSteps> TrainAlternatingAsync(AlternatingRun run)
    {
        if (run.Count < 1) throw new ArgumentOutOfRangeException(nameof(run), run.Count, "an alternating run takes at least one step");
        var model = Ready(run.Step);
        var generator = GrainFactory.GetGrain<IGeneratorWorkerGrain>(MemberId);
        var taken = new List<StepStatistics>(Math.Min(run.Count, 1024));

        // G on this silo lends us its network for the run; G on another silo links to us, or else takes calls.
        var loan = loans.Open(MemberId);
        var address = links.Address;
        var linked = address is null ? null : links.Expect(loan.Id);
        var joining = generator.JoinRunAsync(run.Step, new RunInvitation(loan.Id, address?.Host, address?.Port ?? 0)).AsTask();
        try
        {
            var first = await Task.WhenAny(linked is null ? [loan.Lent, joining] : [loan.Lent, linked, joining]);
            if (first == loan.Lent)
            {
                try
                {
                    var (g, gDevice) = await loan.Lent;
                    await RunWithLentGeneratorAsync(model, g, gDevice, run, taken);
                }
                finally
                {
                    loan.Return();
                }
            }
            else if (first == linked)
            {
                using var link = await linked;
                bool blocking = Compute.IsIdle;
                if (blocking) link.UseIdleTimeouts();
                using var channel = new LinkChannel(links, link, joining, blocking);
                await RunWithRemoteGeneratorAsync(model, channel, run, taken);
            }
            else if (await joining == RunPartner.Messages)
            {
                await RunWithRemoteGeneratorAsync(model, new GrainChannel(generator), run, taken);
                return Result(run, taken);
            }
            var partner = await joining;
            if (partner != (first == loan.Lent ? RunPartner.Lent : RunPartner.Linked))
                throw new InvalidOperationException($"the generator of {MemberId} answered {partner} to a run it did not take part in");
        }
        catch
        {
            _ = joining.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            throw;
        }
        finally
        {
            loans.Close(loan.Id);
            links.Forget(loan.Id);
        }
        return Result(run, taken);
    }

    private static AlternatingSteps Result(AlternatingRun run, List<StepStatistics> taken) =>
        new(run.Step,
            taken.Select(t => t.DLoss).ToArray(), taken.Select(t => t.GLoss).ToArray(),
            taken.Select(t => t.MeanDReal).ToArray(), taken.Select(t => t.MeanDFake).ToArray(),
            taken.Select(t => t.GradNormD).ToArray(), taken.Select(t => t.GradNormG).ToArray());

    /// <summary>Whether the run takes another step after the one just taken (the budget is checked between steps).</summary>
    private static bool Continues(AlternatingRun run, int taken, Stopwatch clock) =>
        taken + 1 < run.Count && (taken + 1 < run.MinSteps || clock.Elapsed < run.Budget);

    /// <summary>G is on this silo: each step is one piece of compute work, D's k steps then G's step and next sample.</summary>
    private async Task RunWithLentGeneratorAsync(DiscriminatorModel d, GeneratorModel g, Device gDevice, AlternatingRun run, List<StepStatistics> taken)
    {
        var clock = Stopwatch.StartNew();
        GeneratedBatch? batch = await Compute.RunAsync(() => OnDevice(g.Sample(run.DiscriminatorSteps), Device));
        try
        {
            while (batch is not null)
            {
                var current = batch;
                batch = null;
                (var statistics, batch) = await Compute.RunAsync(() =>
                {
                    using (current)
                    {
                        var (gradient, statistics) = TrainOn(d, current.ForDiscriminator, current.DiscriminatorLabels, current.ForGenerator, current.GeneratorLabels);
                        using (gradient)
                        {
                            // G does not take a diverged step: the coordinator marks the member diverged (or a PBT donor replaces it).
                            if (statistics.Divergence(run.MaxLoss) is not null) return (statistics, (GeneratedBatch?)null);
                            using var onG = gradient.device == gDevice ? null : gradient.to(gDevice);
                            statistics = statistics with { GradNormG = g.ApplyGradient(onG ?? gradient) };
                        }
                        bool more = Continues(run, taken.Count, clock);
                        return (statistics, more ? OnDevice(g.Sample(run.DiscriminatorSteps), Device) : null);
                    }
                });
                taken.Add(statistics);
            }
        }
        finally
        {
            batch?.Dispose();
        }
    }

    /// <summary>G's batch on D's device (moved when G and D sit on different devices of the silo).</summary>
    private static GeneratedBatch OnDevice(GeneratedBatch batch, Device device)
    {
        if (batch.ForGenerator.device == device) return batch;
        using (batch)
            return new GeneratedBatch(batch.ForDiscriminator.to(device), batch.DiscriminatorLabels?.to(device),
                batch.ForGenerator.to(device), batch.GeneratorLabels?.to(device));
    }

    /// <summary>
    /// G is on another silo: samples and gradients travel as messages (over a link, or grain calls), one exchange per
    /// step. While G takes its step, D passes the real rows of its next one (<see cref="DiscriminatorModel.PrepareNextStep"/>);
    /// over a link with D waiting in the socket, G sends D's fakes before it computes its own kept batch, which D needs
    /// only after its steps (order d_first).
    /// </summary>
    private async Task RunWithRemoteGeneratorAsync(DiscriminatorModel model, IGeneratorChannel generator, AlternatingRun run, List<StepStatistics> taken)
    {
        var metrics = ServiceProvider.GetService<GanMetrics>();
        var clock = Stopwatch.StartNew();
        var called = clock.Elapsed;
        GeneratorBatch? batch = await generator.SampleAsync(run.Step, run.DiscriminatorSteps);
        Record(metrics, "sample", clock.Elapsed - called, GanMetrics.BytesOf(batch));
        bool inParts = generator.InParts && model.FeedbackLast;
        SamplePart? forD = null; // in parts: D's fakes for this step, with G's kept batch still to come
        Task Meanwhile() => Compute.RunAsync(() => model.PrepareNextStep());
        while (true)
        {
            long at = run.Step + taken.Count;
            var (gradient, statistics) = forD is null ? await StepOnAsync(model, batch!) : await StepInPartsAsync(model, forD, generator, at, metrics);
            if (statistics.Divergence(run.MaxLoss) is not null)
            {
                taken.Add(statistics);
                await generator.EndAsync();
                return;
            }
            metrics?.Exchanged("gradients", gradient.Data.LongLength);
            called = clock.Elapsed;
            if (!Continues(run, taken.Count, clock))
            {
                var applied = await generator.ApplyGradientAsync(at, gradient);
                Record(metrics, "apply_gradient", clock.Elapsed - called, 0);
                taken.Add(statistics with { GradNormG = applied.GradNorm });
                return;
            }
            GeneratorStepResult step;
            if (inParts)
            {
                (step, forD) = await generator.ApplyGradientAndSampleInPartsAsync(at, gradient, run.DiscriminatorSteps, Meanwhile);
                Record(metrics, "apply_gradient_and_sample", clock.Elapsed - called, BytesOf(forD));
            }
            else
            {
                (step, batch) = await generator.ApplyGradientAndSampleAsync(at, gradient, run.DiscriminatorSteps, Meanwhile);
                Record(metrics, "apply_gradient_and_sample", clock.Elapsed - called, GanMetrics.BytesOf(batch));
            }
            taken.Add(statistics with { GradNormG = step.GradNorm });
        }
    }

    /// <summary>One schedule step of D on G's whole batch.</summary>
    private Task<(TensorMessage Gradient, StepStatistics Statistics)> StepOnAsync(DiscriminatorModel model, GeneratorBatch batch) =>
        Compute.RunAsync(() =>
        {
            using var forD = TensorMessages.ToTensor(batch.ForDiscriminator, Device);
            using var forG = TensorMessages.ToTensor(batch.ForGenerator, Device);
            using var labelsD = TensorMessages.ToTensorOrNull(batch.DiscriminatorLabels, Device);
            using var labelsG = TensorMessages.ToTensorOrNull(batch.GeneratorLabels, Device);
            return Message(model.Train(forD, labelsD, forG, labelsG));
        });

    /// <summary>One schedule step of D in parts: its k steps on the fakes it has, then G's feedback once G's kept batch is in.</summary>
    private async Task<(TensorMessage Gradient, StepStatistics Statistics)> StepInPartsAsync(
        DiscriminatorModel model, SamplePart forD, IGeneratorChannel generator, long at, GanMetrics? metrics)
    {
        var steps = await Compute.RunAsync(() =>
        {
            using var fake = TensorMessages.ToTensor(forD.Samples, Device);
            using var labels = TensorMessages.ToTensorOrNull(forD.Labels, Device);
            return model.TrainSteps(fake, labels);
        });
        var forG = await generator.RestAsync(at);
        metrics?.Exchanged("samples", BytesOf(forG));
        return await Compute.RunAsync(() =>
        {
            using var fake = TensorMessages.ToTensor(forG.Samples, Device);
            using var labels = TensorMessages.ToTensorOrNull(forG.Labels, Device);
            return Message(model.FeedbackAfter(steps, fake, labels));
        });
    }

    private static long BytesOf(SamplePart part) => part.Samples.Data.LongLength + (part.Labels?.Data.LongLength ?? 0);

    /// <summary>G's gradient as a message (the tensor is disposed) and the step's statistics.</summary>
    private static (TensorMessage Gradient, StepStatistics Statistics) Message(DiscriminatorStep result)
    {
        var (tensor, statistics) = Split(result);
        using (tensor)
            return (TensorMessages.ToMessage(tensor), statistics);
    }

    private static void Record(GanMetrics? metrics, string operation, TimeSpan took, long sampleBytes)
    {
        metrics?.WorkerCallTook("generator", operation, took.TotalSeconds);
        metrics?.Exchanged("samples", sampleBytes);
    }

    /// <summary>D's k steps on G's batch (on a compute thread): dLoss_G/dx for G's kept batch (the caller's), and the step's statistics.</summary>
    private static (Tensor Gradient, StepStatistics Statistics) TrainOn(DiscriminatorModel model, Tensor forD, Tensor? labelsD, Tensor forG, Tensor? labelsG) =>
        Split(model.Train(forD, labelsD, forG, labelsG));

    private static (Tensor Gradient, StepStatistics Statistics) Split(DiscriminatorStep result) =>
        (result.GeneratorGradient,
            new StepStatistics(result.DLoss, result.GLoss, result.MeanDReal, result.MeanDFake, GradNormG: double.NaN, GradNormD: result.GradNorm));

    public async ValueTask<DiscriminatorScores> ScoreAsync(EvaluationBatch fake)
    {
        var model = Model ?? throw new WorkerNotReadyException($"the discriminator of {MemberId} holds no network");
        return await Compute.RunAsync(() =>
        {
            using var samples = TensorMessages.ToTensor(fake.Samples, Device);
            using var labels = TensorMessages.ToTensorOrNull(fake.Labels, Device);
            var (real, fakeScore) = model.Score(samples, labels);
            return new DiscriminatorScores(real, fakeScore);
        });
    }
}
