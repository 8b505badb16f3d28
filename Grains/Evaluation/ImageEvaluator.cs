using GanCluster.Contracts.Members;
using GanCluster.Contracts.Tensors;
using GanCluster.Gan.Data;
using GanCluster.Gan.Evaluation;
using GanCluster.Grains.Compute;
using GanCluster.Grains.Workers;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace GanCluster.Grains.Evaluation;

/// <summary>
/// The silo's digit classifier, loaded (or trained once and cached under the data directory) on first use, and the
/// image metrics it gives generated digits. All torch work runs on the compute threads.
/// </summary>
public sealed class ImageEvaluator(TorchCompute compute, string dataDirectory, ILogger<ImageEvaluator> logger) : IDisposable
{
    private readonly SemaphoreSlim gate = new(1, 1);
    private DigitClassifier? classifier;

    public string CachePath => Path.Combine(dataDirectory, "classifier", $"{DigitClassifier.Version}.bin");

    /// <summary>Whether the next evaluation must first train the classifier (not loaded, and no cache on disk).</summary>
    public bool MustTrainClassifier => classifier is null && !File.Exists(CachePath);

    private async Task<DigitClassifier> ClassifierAsync()
    {
        if (classifier is not null) return classifier;
        await gate.WaitAsync();
        try
        {
            // The classifier knows the shipped digits; its Fréchet reference is all 10,000 of them.
            return classifier ??= await compute.RunAsync(() => DigitClassifier.LoadOrTrain(CachePath, (ImageDataset)RealData.FromSpec(new() { Kind = "digits" }), logger));
        }
        finally { gate.Release(); }
    }

    /// <param name="images">[N, 1, 28, 28] in [−1, 1] as floats.</param>
    /// <param name="labels">Conditional GANs: the class each image was generated for.</param>
    public async Task<ImageMetrics> EvaluateAsync(TensorMessage images, long[]? labels, long step, double meanDReal, double meanDFake)
    {
        var c = await ClassifierAsync();
        return await compute.RunAsync(() =>
        {
            using var scope = NewDisposeScope();
            var batch = TensorMessages.ToTensor(images, CPU).reshape(-1, 1, DigitClassifier.ImageSide, DigitClassifier.ImageSide);
            var e = ImageScoring.Evaluate(c, batch);
            double? labelAccuracy = null;
            if (labels is not null)
            {
                using var _ = no_grad();
                var predicted = c.Classify(batch).Logits.argmax(1).data<long>().ToArray();
                labelAccuracy = (double)predicted.Where((p, i) => p == labels[i]).Count() / predicted.Length;
            }
            return new ImageMetrics(step, e.ClassesCovered, e.ClassCount, e.ClassKl, e.ConfidentFraction, e.FrechetDistance, meanDReal, meanDFake)
            {
                LabelAccuracy = labelAccuracy,
            };
        });
    }

    public void Dispose()
    {
        classifier?.Dispose();
        gate.Dispose();
    }
}
