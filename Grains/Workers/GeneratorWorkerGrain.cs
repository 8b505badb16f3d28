using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Grains.Storage;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;
using GanCluster.Grains.Placement;

namespace GanCluster.Grains.Workers;

[DevicePlacement]
public sealed partial class GeneratorWorkerGrain(TorchCompute compute, ICheckpointStore store)
    : NetworkWorkerGrain<GeneratorModel>(compute, store), IGeneratorWorkerGrain
{
    protected override string Role => "generator";
    protected override GeneratorModel Build(GanSpec spec, IRealData data, Device device) => new(spec, data, device);
    protected override long StepOf(GeneratorModel model) => model.Step;
    protected override void Save(GeneratorModel model, BinaryWriter writer) => model.Save(writer);
    protected override void Load(GeneratorModel model, BinaryReader reader) => model.Load(reader);
    protected override byte[] WeightsOf(GeneratorModel model) => model.WeightBytes();

    public async ValueTask<GeneratorBatch> SampleAsync(long step, int discriminatorSteps)
    {
        var model = Ready(step);
        return await Compute.RunAsync(() => SampleOn(model, discriminatorSteps));
    }

    private static GeneratorBatch SampleOn(GeneratorModel model, int discriminatorSteps)
    {
        using var batch = model.Sample(discriminatorSteps);
        return new GeneratorBatch(TensorMessages.ToMessage(batch.ForDiscriminator), TensorMessages.ToMessage(batch.ForGenerator))
        {
            DiscriminatorLabels = batch.DiscriminatorLabels is null ? null : TensorMessages.ToMessage(batch.DiscriminatorLabels),
            GeneratorLabels = batch.GeneratorLabels is null ? null : TensorMessages.ToMessage(batch.GeneratorLabels),
        };
    }

    public async ValueTask<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps)
    {
        var model = Ready(step);
        if (!model.HasPendingBatch) throw new WorkerNotReadyException($"the generator of {MemberId} has no sampled batch at step {step}");
        return await Compute.RunAsync(() =>
        {
            double norm;
            using (var grad = TensorMessages.ToTensor(gradient, Device))
                norm = model.ApplyGradient(grad);
            var result = new GeneratorStepResult(model.Step, norm);
            return new GeneratorStepAndBatch(result, SampleOn(model, discriminatorSteps));
        });
    }

    public async ValueTask<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient)
    {
        var model = Ready(step);
        if (!model.HasPendingBatch) throw new WorkerNotReadyException($"the generator of {MemberId} has no sampled batch at step {step}");
        return await Compute.RunAsync(() =>
        {
            using var grad = TensorMessages.ToTensor(gradient, Device);
            double norm = model.ApplyGradient(grad);
            return new GeneratorStepResult(model.Step, norm);
        });
    }

    public async ValueTask<EvaluationBatch> SampleForEvaluationAsync(int count)
    {
        var model = Model ?? throw new WorkerNotReadyException($"the generator of {MemberId} holds no network");
        return await Compute.RunAsync(() =>
        {
            var (samples, labels) = model.SampleForEvaluation(count);
            using (samples)
            using (labels)
                return new EvaluationBatch(TensorMessages.ToMessage(samples), labels is null ? null : TensorMessages.ToMessage(labels));
        });
    }
}
