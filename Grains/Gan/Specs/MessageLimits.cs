using System.Globalization;

namespace GanCluster.Gan.Specs;

/// <summary>
/// How much one grain call may carry. Orleans refuses a message body over <c>MaxMessageBodySize</c> (100 MiB by
/// default) and fails badly (a misleading SiloUnavailableException between silos, reconnects until a timeout from a
/// client), so GanCluster keeps every message well under it: checkpoints (weights, optimizer state) never travel in a
/// grain call — workers write them to the checkpoint store (files, or Redis in chunks) and calls carry references —
/// and a spec whose per-step or evaluation messages would pass <see cref="MaxMessageBytes"/> is refused before anything
/// starts.
/// </summary>
public static class MessageLimits
{
    /// <summary>64 MiB: room under Orleans' 100 MiB default for the rest of the message.</summary>
    public const long MaxMessageBytes = 64L << 20;

    /// <summary>Values per sample crossing a grain boundary: 28×28 for images, the mixture's dimension otherwise.</summary>
    public static int SampleValues(DataSpec data) => SpecValidator.IsImageData(data.Kind) ? 28 * 28 : data.Kind == "gaussian1d" ? 1 : 2;

    /// <summary>Bytes of samples (float32) and, for conditional GANs, their classes (int64).</summary>
    public static long SampleBytes(long samples, DataSpec data, bool conditional) =>
        samples * (SampleValues(data) * 4L + (conditional ? 8 : 0));

    /// <summary>Adds a problem for each message of the spec that would not fit in one grain call.</summary>
    public static void Check(GanSpec spec, List<string> problems)
    {
        if (spec.Data is not { } data || spec.Training is not { } t || spec.Evaluation is not { } e) return;
        if (t.BatchSize < 1 || t.DStepsPerGStep < 1 || e.Samples < 1) return;
        bool conditional = spec.Techniques?.Conditional ?? false;
        // Each step G sends k detached batches for D's steps and one batch whose gradient D returns.
        long stepSamples = (long)t.BatchSize * (t.DStepsPerGStep + 1);
        long stepBytes = SampleBytes(stepSamples, data, conditional);
        if (stepBytes > MaxMessageBytes)
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"training: one step sends batchSize × (dStepsPerGStep + 1) = {stepSamples} samples of {SampleValues(data)} values from the generator to the discriminator ({Mib(stepBytes)}), over the {Mib(MaxMessageBytes)} a grain call may carry (Orleans' MaxMessageBodySize is 100 MiB): lower training.batchSize or training.dStepsPerGStep"));
        long evaluationBytes = SampleBytes(e.Samples, data, conditional);
        if (evaluationBytes > MaxMessageBytes)
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"evaluation.samples: {e.Samples} samples of {SampleValues(data)} values make a {Mib(evaluationBytes)} message from the generator, over the {Mib(MaxMessageBytes)} a grain call may carry; at most {MaxMessageBytes / SampleBytes(1, data, conditional)}"));
    }

    /// <summary>For payloads that are not known from the spec (exported weights): a clear error instead of Orleans' failure.</summary>
    public static void EnsureFits(long bytes, string what)
    {
        if (bytes > MaxMessageBytes)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"{what} is {Mib(bytes)}, over the {Mib(MaxMessageBytes)} a grain call may carry; read it from the checkpoint store instead"));
    }

    private static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F1} MiB");
}
