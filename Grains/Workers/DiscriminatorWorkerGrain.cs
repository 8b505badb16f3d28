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
using GanCluster.Grains.Placement;

namespace GanCluster.Grains.Workers;

[DevicePlacement]
public sealed partial class DiscriminatorWorkerGrain(TorchCompute compute, ICheckpointStore store)
    : NetworkWorkerGrain<DiscriminatorModel>(compute, store), IDiscriminatorWorkerGrain
{
    protected override string Role => "discriminator";
    protected override DiscriminatorModel Build(GanSpec spec, IRealData data, Device device) => new(spec, data, device);
    protected override long StepOf(DiscriminatorModel model) => model.Step;
    protected override void Save(DiscriminatorModel model, BinaryWriter writer) => model.Save(writer);
    protected override void Load(DiscriminatorModel model, BinaryReader reader) => model.Load(reader);
    protected override byte[] WeightsOf(DiscriminatorModel model) => model.WeightBytes();

    /// <summary>
    /// One run of alternating steps with the member's generator worker, one grain call per step (G applies D's gradient
    /// and samples the next batch in the same call). The G worker may be on this silo or another: the call is the same.
    /// </summary>
    public async ValueTask<AlternatingSteps> TrainAlternatingAsync(AlternatingRun run)
    {
        if (run.Count < 1) throw new ArgumentOutOfRangeException(nameof(run), run.Count, "an alternating run takes at least one step");
        var model = Ready(run.Step);
        var generator = GrainFactory.GetGrain<IGeneratorWorkerGrain>(MemberId);
        var metrics = ServiceProvider.GetService<GanMetrics>();
        var taken = new List<StepStatistics>(Math.Min(run.Count, 1024));
        var clock = Stopwatch.StartNew();
        var called = clock.Elapsed;
        var batch = await generator.SampleAsync(run.Step, run.DiscriminatorSteps);
        Record(metrics, "sample", clock.Elapsed - called, GanMetrics.BytesOf(batch));
        while (true)
        {
            long at = run.Step + taken.Count;
            var (gradient, statistics) = await StepOnAsync(model, batch);
            // G does not take a diverged step: the coordinator marks the member diverged (or a PBT donor replaces it).
            if (statistics.Divergence(run.MaxLoss) is not null)
            {
                taken.Add(statistics);
                break;
            }
            metrics?.Exchanged("gradients", gradient.Data.LongLength);
            called = clock.Elapsed;
            if (!Continues(run, taken.Count, clock))
            {
                var applied = await generator.ApplyGradientAsync(at, gradient);
                Record(metrics, "apply_gradient", clock.Elapsed - called, 0);
                taken.Add(statistics with { GradNormG = applied.GradNorm });
                break;
            }
            var next = await generator.ApplyGradientAndSampleAsync(at, gradient, run.DiscriminatorSteps);
            Record(metrics, "apply_gradient_and_sample", clock.Elapsed - called, GanMetrics.BytesOf(next.Next));
            taken.Add(statistics with { GradNormG = next.Step.GradNorm });
            batch = next.Next;
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
