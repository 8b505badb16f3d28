using System.Collections.Concurrent;
using System.Diagnostics;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GanCluster.Gan.Evaluation;

/// <summary>How the digit classifier is trained; part of its cache key, so changing any of it retrains.</summary>
public sealed record DigitClassifierTraining(
    int Epochs = 8,
    int BatchSize = 64,
    double LearningRate = 2e-3,
    double HeldOutFraction = 0.1,
    long Seed = 1);

/// <summary>
/// The small CNN that scores generated digits (the "Inception network" of this repository's FID): logits over the
/// classes and 128 penultimate features. Trained once on the real images with a held-out split and cached on disk
/// with the feature statistics of the real images, keyed by <see cref="Version"/>, the training settings and the
/// data's fingerprint, so that a changed data set or recipe retrains and nothing else does.
/// Inference (<see cref="Classify"/>, <see cref="forward"/>) only reads the weights: several threads may call it at once.
/// </summary>
public sealed class DigitClassifier : Module<Tensor, Tensor>
{
    /// <summary>Bumped whenever the architecture or the training code changes, so stale caches retrain.</summary>
    public const string Version = "digits-cnn-v1";
    public const int FeatureCount = 128;
    public const int ImageSide = 28;
    private const string Magic = "GANCLUSTER-DIGIT-CLASSIFIER-1";
    private const string EndMarker = "END";
    private const double ConvDropout = 0.25;
    private const double HiddenDropout = 0.5;
    private const int InferenceBatch = 500;

    private static readonly ConcurrentDictionary<string, Lock> CacheGates = new();

    private readonly Conv2d conv1;     // [N, 1, 28, 28] → [N, 32, 26, 26]
    private readonly MaxPool2d pool1;  // → [N, 32, 13, 13]
    private readonly Conv2d conv2;     // → [N, 64, 11, 11]
    private readonly MaxPool2d pool2;  // → [N, 64, 5, 5], flattened to [N, 1600]
    private readonly Linear hidden;    // → [N, 128]: the penultimate features
    private readonly Linear output;    // → [N, classes]: logits

    private DigitClassifier(int classCount) : base("digit_classifier")
    {
        Compute.CpuKernels.EnsureConfigured();
        ClassCount = classCount;
        conv1 = Conv2d(1, 32, 3);
        pool1 = MaxPool2d(2);
        conv2 = Conv2d(32, 64, 3);
        pool2 = MaxPool2d(2);
        hidden = Linear(64 * 5 * 5, FeatureCount);
        output = Linear(FeatureCount, classCount);
        RegisterComponents();
    }

    public int ClassCount { get; }

    /// <summary>Accuracy on the held-out part of the data it was trained on (never seen in training).</summary>
    public double HeldOutAccuracy { get; private set; }

    public int HeldOutCount { get; private set; }

    /// <summary>Wall-clock seconds its training took (when it was trained, possibly in an earlier process).</summary>
    public double TrainingSeconds { get; private set; }

    /// <summary>True when it came from the cache file rather than from training in this call.</summary>
    public bool LoadedFromCache { get; private set; }

    /// <summary>The <see cref="ImageDataset.Fingerprint"/> of the data it was trained on.</summary>
    public string DataFingerprint { get; private set; } = "";

    /// <summary>Statistics of the penultimate features of every real image: the reference of the Fréchet distance.</summary>
    public FeatureStatistics ReferenceStatistics { get; private set; } = null!;

    /// <summary>Logits [N, classes] of images [N, 1, 28, 28] in [−1, 1].</summary>
    public override Tensor forward(Tensor images) => output.forward(Features(images, dropout: null));

    /// <summary>
    /// Logits [N, classes] and penultimate features [N, 128] of images [N, 1, 28, 28] in [−1, 1], without gradients,
    /// in batches (so that any N fits in memory). Results are on the CPU.
    /// </summary>
    public (Tensor Logits, Tensor Features) Classify(Tensor images)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = new List<Tensor>();
        var features = new List<Tensor>();
        long count = images.shape[0];
        for (long start = 0; start < count; start += InferenceBatch)
        {
            var batch = images.narrow(0, start, Math.Min(InferenceBatch, count - start)).to(CPU).to_type(ScalarType.Float32);
            var f = Features(batch, dropout: null);
            features.Add(f);
            logits.Add(output.forward(f));
        }
        return (cat(logits, 0).MoveToOuterDisposeScope(), cat(features, 0).MoveToOuterDisposeScope());
    }

    /// <summary>Fraction of <paramref name="data"/> whose predicted class is its label.</summary>
    public double Accuracy(ImageDataset data)
    {
        using var scope = NewDisposeScope();
        var (logits, _) = Classify(data.Images);
        return logits.argmax(1).eq(data.Labels).to_type(ScalarType.Float64).mean().item<double>();
    }

    /// <summary>Mean and covariance of the penultimate features of <paramref name="images"/>.</summary>
    public FeatureStatistics FeatureStatisticsOf(Tensor images)
    {
        using var scope = NewDisposeScope();
        var (_, features) = Classify(images);
        return FeatureStatistics.Of(features);
    }

    /// <summary>
    /// The classifier cached at <paramref name="cachePath"/> when it was trained with the same version, settings and
    /// data; otherwise trains one (on the calling thread, with <paramref name="threads"/> intra-op threads, default
    /// half the cores, restored afterwards) and writes it there atomically. A corrupt or stale cache is logged and replaced.
    /// </summary>
    public static DigitClassifier LoadOrTrain(string cachePath, ImageDataset data, ILogger? logger = null,
        DigitClassifierTraining? training = null, int? threads = null)
    {
        training ??= new DigitClassifierTraining();
        string fullPath = Path.GetFullPath(cachePath);
        // One trainer per cache file in this process; other processes may race, and the atomic rename keeps that safe.
        lock (CacheGates.GetOrAdd(fullPath, _ => new Lock()))
        {
            if (File.Exists(fullPath))
            {
                var cached = TryLoad(fullPath, data, training, logger);
                if (cached is not null) return cached;
            }
            var trained = Train(data, training, logger, threads);
            try
            {
                trained.Save(fullPath, training);
                DigitClassifierLog.Cached(logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, fullPath);
            }
            catch
            {
                trained.Dispose();
                throw;
            }
            return trained;
        }
    }

    /// <summary>Attempts of <see cref="Train"/> before a native error is passed on.</summary>
    private const int TrainingAttempts = 3;

    /// <summary>
    /// Trains a classifier on a deterministic split of <paramref name="data"/>: the same inputs give the same weights.
    /// A native error inside libtorch during training ("Unknown scalar type" from TorchSharp's Adam, seen once in a
    /// clean-clone test run while other threads trained GANs; most likely a TorchSharp <c>Scalar</c> temporary freed by
    /// its finalizer while its native call ran, which this code cannot prevent) fails that attempt only: training starts again from the seed, up to
    /// <see cref="TrainingAttempts"/> times, and gives the same weights as an attempt that never failed.
    /// </summary>
    public static DigitClassifier Train(ImageDataset data, DigitClassifierTraining training, ILogger? logger = null, int? threads = null)
    {
        logger ??= Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return TrainOnce(data, training, logger, threads);
            }
            catch (System.Runtime.InteropServices.ExternalException e) when (attempt < TrainingAttempts)
            {
                DigitClassifierLog.NativeFailure(logger, e, attempt, TrainingAttempts);
            }
        }
    }

    private static DigitClassifier TrainOnce(ImageDataset data, DigitClassifierTraining training, ILogger logger, int? threads)
    {
        if (data.Height != ImageSide || data.Width != ImageSide)
            throw new ArgumentException($"the digit classifier reads {ImageSide}×{ImageSide} images, got {data.Height}×{data.Width}", nameof(data));
        if (training.Epochs < 1 || training.BatchSize < 1 || !(training.LearningRate > 0))
            throw new ArgumentException($"invalid classifier training settings: {training}", nameof(training));
        int previousThreads = get_num_threads();
        // Half the cores by default: OpenMP threads that spin on a busy machine (a silo, other members) slow training
        // down more than they help (on a loaded 2-core machine: 42 s with 1 thread, 80 s with 2).
        set_num_threads(threads ?? Math.Clamp(Environment.ProcessorCount / 2, 1, 8));
        var clock = Stopwatch.StartNew();
        var (train, test) = HeldOutSplit(data, training);
        // Initialisation draws from libtorch's global RNG: seed it under the shared lock, then use explicit generators only.
        var model = Seeds.WithGlobalSeed(Seeds.For(training.Seed, "digit-classifier-init"), () => new DigitClassifier(data.ClassCount));
        try
        {
            DigitClassifierLog.Training(logger, train.Count, test.Count, training.Epochs, get_num_threads());
            using var batches = new Generator(Seeds.For(training.Seed, "digit-classifier-batches"));
            using var dropout = new Generator(Seeds.For(training.Seed, "digit-classifier-dropout"));
            using var optimizer = optim.Adam(model.parameters(), lr: training.LearningRate);
            long stepsPerEpoch = (train.Count + training.BatchSize - 1) / training.BatchSize;
            long totalSteps = stepsPerEpoch * training.Epochs, step = 0;
            for (int epoch = 1; epoch <= training.Epochs; epoch++)
            {
                model.train();
                double lossSum = 0;
                using var order = randperm(train.Count, generator: batches);
                for (long start = 0; start < train.Count; start += training.BatchSize)
                {
                    using var scope = NewDisposeScope();
                    // Cosine decay to zero: large steps early, a settled optimum at the end, nothing to tune per data set.
                    double lr = training.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step++ / totalSteps));
                    foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                    var index = order.narrow(0, start, Math.Min(training.BatchSize, train.Count - start));
                    var logits = model.output.forward(model.Features(train.Images.index_select(0, index), dropout));
                    var loss = functional.cross_entropy(logits, train.Labels.index_select(0, index));
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    lossSum += loss.item<float>() * index.shape[0];
                }
                model.eval();
                DigitClassifierLog.Epoch(logger, epoch, training.Epochs, lossSum / train.Count, model.Accuracy(test), clock.Elapsed.TotalSeconds);
            }
            model.eval();
            model.HeldOutAccuracy = model.Accuracy(test);
            model.HeldOutCount = (int)test.Count;
            model.DataFingerprint = data.Fingerprint;
            model.ReferenceStatistics = model.FeatureStatisticsOf(data.Images);
            model.TrainingSeconds = clock.Elapsed.TotalSeconds;
            DigitClassifierLog.Trained(logger, model.HeldOutAccuracy, model.HeldOutCount, model.TrainingSeconds);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            train.Dispose();
            test.Dispose();
            set_num_threads(previousThreads);
        }
    }

    /// <summary>The deterministic (train, held-out) split <see cref="Train"/> uses: the held-out images were never trained on.</summary>
    public static (ImageDataset Train, ImageDataset HeldOut) HeldOutSplit(ImageDataset data, DigitClassifierTraining training) =>
        data.Split(training.HeldOutFraction, (long)Seeds.For(training.Seed, "digit-classifier-split"));

    /// <summary>
    /// The penultimate features [N, 128]; with a <paramref name="dropout"/> generator (training only), dropout masks are
    /// drawn from it rather than from libtorch's global RNG, which other threads share, so training is reproducible.
    /// </summary>
    private Tensor Features(Tensor images, Generator? dropout)
    {
        using var scope = NewDisposeScope();
        var x = pool1.forward(functional.relu(conv1.forward(images)));
        x = pool2.forward(functional.relu(conv2.forward(x)));
        x = Dropout(x.flatten(1), ConvDropout, dropout);
        x = Dropout(functional.relu(hidden.forward(x)), HiddenDropout, dropout);
        return x.MoveToOuterDisposeScope();
    }

    private static Tensor Dropout(Tensor x, double p, Generator? rng)
    {
        if (rng is null) return x;
        var keep = rand(x.shape, generator: rng).ge(p).to_type(x.dtype);
        return x * keep / (1 - p);
    }

    private static void CheckImages(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != 1 || images.shape[2] != ImageSide || images.shape[3] != ImageSide)
            throw new ArgumentException($"the digit classifier reads images [N, 1, {ImageSide}, {ImageSide}], got [{string.Join(", ", images.shape)}]", nameof(images));
    }

    private static string CacheKey(DigitClassifierTraining training) => $"{Version} {training}";

    private void Save(string path, DigitClassifierTraining training)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var writer = new BinaryWriter(file, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    writer.Write(Magic);
                    writer.Write(CacheKey(training));
                    writer.Write(DataFingerprint);
                    writer.Write(ClassCount);
                    writer.Write(HeldOutAccuracy);
                    writer.Write(HeldOutCount);
                    writer.Write(TrainingSeconds);
                    save(writer);
                    ReferenceStatistics.Write(writer);
                    writer.Write(EndMarker);
                }
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    private static DigitClassifier? TryLoad(string path, ImageDataset data, DigitClassifierTraining training, ILogger? logger)
    {
        logger ??= Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        DigitClassifier? model = null;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path), System.Text.Encoding.UTF8);
            if (reader.ReadString() != Magic) throw new InvalidDataException("not a digit classifier cache file");
            string key = reader.ReadString(), fingerprint = reader.ReadString();
            if (key != CacheKey(training) || fingerprint != data.Fingerprint)
            {
                DigitClassifierLog.Stale(logger, path, key, fingerprint, CacheKey(training), data.Fingerprint);
                return null;
            }
            int classCount = reader.ReadInt32();
            if (classCount != data.ClassCount) throw new InvalidDataException($"cache holds {classCount} classes, the data {data.ClassCount}");
            model = Seeds.WithGlobalSeed(0, () => new DigitClassifier(classCount));
            model.HeldOutAccuracy = reader.ReadDouble();
            model.HeldOutCount = reader.ReadInt32();
            model.TrainingSeconds = reader.ReadDouble();
            model.load(reader, strict: true);
            model.ReferenceStatistics = FeatureStatistics.Read(reader);
            if (model.ReferenceStatistics.Dimension != FeatureCount) throw new InvalidDataException($"cached statistics have {model.ReferenceStatistics.Dimension} features, expected {FeatureCount}");
            if (reader.ReadString() != EndMarker) throw new InvalidDataException("cache file does not end where expected");
            model.DataFingerprint = fingerprint;
            model.LoadedFromCache = true;
            model.eval();
            DigitClassifierLog.Loaded(logger, path, model.HeldOutAccuracy, model.HeldOutCount);
            return model;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException)
        {
            // EndOfStreamException is an IOException; TorchSharp reports a mismatched state dict as ArgumentException.
            DigitClassifierLog.Unreadable(logger, e, path);
            model?.Dispose();
            return null;
        }
    }
}

/// <summary>Mean [d] and covariance [d × d] (row-major, unbiased) of feature vectors: a Gaussian fit, as FID uses.</summary>
public sealed record FeatureStatistics(double[] Mean, double[] Covariance, long Count)
{
    public int Dimension => Mean.Length;

    /// <summary>The statistics of features [N, d] (N ≥ 2), computed in float64.</summary>
    public static FeatureStatistics Of(Tensor features)
    {
        if (features.dim() != 2 || features.shape[0] < 2)
            throw new ArgumentException($"feature statistics need features [N ≥ 2, d], got [{string.Join(", ", features.shape)}]", nameof(features));
        using var scope = NewDisposeScope();
        var x = features.to(CPU).to_type(ScalarType.Float64);
        var mean = x.mean([0]);
        var centred = x - mean;
        var covariance = centred.t().matmul(centred) / (x.shape[0] - 1);
        return new FeatureStatistics(mean.data<double>().ToArray(), covariance.contiguous().data<double>().ToArray(), x.shape[0]);
    }

    internal void Write(BinaryWriter writer)
    {
        writer.Write(Count);
        writer.Write(Dimension);
        foreach (double v in Mean) writer.Write(v);
        foreach (double v in Covariance) writer.Write(v);
    }

    internal static FeatureStatistics Read(BinaryReader reader)
    {
        long count = reader.ReadInt64();
        int dimension = reader.ReadInt32();
        if (dimension is <= 0 or > 1 << 14) throw new InvalidDataException($"feature statistics of {dimension} dimensions");
        var mean = new double[dimension];
        for (int i = 0; i < mean.Length; i++) mean[i] = reader.ReadDouble();
        var covariance = new double[dimension * dimension];
        for (int i = 0; i < covariance.Length; i++) covariance[i] = reader.ReadDouble();
        return new FeatureStatistics(mean, covariance, count);
    }
}

internal static partial class DigitClassifierLog
{
    [LoggerMessage(201, LogLevel.Information, "Training the digit classifier on {TrainCount} images ({HeldOutCount} held out), {Epochs} epochs, {Threads} threads")]
    public static partial void Training(ILogger logger, long trainCount, long heldOutCount, int epochs, int threads);

    [LoggerMessage(202, LogLevel.Information, "Digit classifier epoch {Epoch}/{Epochs}: loss {Loss:F4}, held-out accuracy {Accuracy:P2}, {Seconds:F1} s")]
    public static partial void Epoch(ILogger logger, int epoch, int epochs, double loss, double accuracy, double seconds);

    [LoggerMessage(203, LogLevel.Information, "Digit classifier trained: held-out accuracy {Accuracy:P2} on {HeldOutCount} images in {Seconds:F1} s")]
    public static partial void Trained(ILogger logger, double accuracy, int heldOutCount, double seconds);

    [LoggerMessage(204, LogLevel.Information, "Digit classifier loaded from {Path} (held-out accuracy {Accuracy:P2} on {HeldOutCount} images)")]
    public static partial void Loaded(ILogger logger, string path, double accuracy, int heldOutCount);

    [LoggerMessage(205, LogLevel.Information, "Digit classifier cache {Path} is stale (key '{Key}', data {Fingerprint}; want '{WantedKey}', data {WantedFingerprint}): retraining")]
    public static partial void Stale(ILogger logger, string path, string key, string fingerprint, string wantedKey, string wantedFingerprint);

    [LoggerMessage(206, LogLevel.Warning, "Digit classifier cache {Path} is unreadable: retraining")]
    public static partial void Unreadable(ILogger logger, Exception exception, string path);

    [LoggerMessage(207, LogLevel.Information, "Digit classifier cached at {Path}")]
    public static partial void Cached(ILogger logger, string path);

    [LoggerMessage(208, LogLevel.Warning, "Digit classifier training attempt {Attempt} of {Attempts} failed inside libtorch: training again from the seed")]
    public static partial void NativeFailure(ILogger logger, Exception exception, int attempt, int attempts);
}
