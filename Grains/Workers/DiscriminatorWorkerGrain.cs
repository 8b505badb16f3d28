using GanCluster.Contracts.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Compute;
using GanCluster.Grains.Gan.Data;
using GanCluster.Grains.Gan.Training;
using GanCluster.Grains.Storage;
using static TorchSharp.torch;

namespace GanCluster.Grains.Workers;

[Hosting.DevicePlacement]
public sealed partial class DiscriminatorWorkerGrain(TorchCompute compute, ICheckpointStore store)
    : NetworkWorkerGrain<DiscriminatorModel>(compute, store), IDiscriminatorWorkerGrain
{
    protected override string Role => "discriminator";
    protected override DiscriminatorModel Build(GanSpec spec, IRealData data, Device device) => new(spec, data, device);
    protected override long StepOf(DiscriminatorModel model) => model.Step;
    protected override void Save(DiscriminatorModel model, BinaryWriter writer) => model.Save(writer);
    protected override void Load(DiscriminatorModel model, BinaryReader reader) => model.Load(reader);
    protected override byte[] WeightsOf(DiscriminatorModel model) => model.WeightBytes();

    public async ValueTask<DiscriminatorFeedback> TrainAsync(long step, GeneratorBatch batch)
    {
        var model = Ready(step);
        return await Compute.RunAsync(() =>
        {
            using var forD = TensorMessages.ToTensor(batch.ForDiscriminator, Device);
            using var forG = TensorMessages.ToTensor(batch.ForGenerator, Device);
            using var labelsD = TensorMessages.ToTensorOrNull(batch.DiscriminatorLabels, Device);
            using var labelsG = TensorMessages.ToTensorOrNull(batch.GeneratorLabels, Device);
            var result = model.Train(forD, labelsD, forG, labelsG);
            using var gradient = result.GeneratorGradient;
            return new DiscriminatorFeedback(TensorMessages.ToMessage(gradient), result.DLoss, result.GLoss,
                result.MeanDReal, result.MeanDFake, result.GradNorm);
        });
    }

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
