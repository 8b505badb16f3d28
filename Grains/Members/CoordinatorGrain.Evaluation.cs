using System.Runtime.InteropServices;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Tensors;
using GanCluster.Gan.Evaluation;
using GanCluster.Grains.Telemetry;

namespace GanCluster.Grains.Members;

/// <summary>Evaluation every E steps: samples from G, D's scores, and the mixture or image metrics.</summary>
public sealed partial class CoordinatorGrain
{
    /// <summary>Shown in the status while the member evaluates (null otherwise).</summary>
    private string? activity;

    private async Task EvaluateAsync()
    {
        activity = data is null && images.MustTrainClassifier
            ? "evaluating: training the digit classifier first (once per data folder, about a minute)"
            : "evaluating";
        try { await EvaluateCoreAsync(); }
        finally { activity = null; }
    }

    private async Task EvaluateCoreAsync()
    {
        var spec = Spec;
        var generated = await Generator.SampleForEvaluationAsync(spec.Evaluation.Samples);
        var scores = await Discriminator.ScoreAsync(generated);
        var labels = generated.Labels is null ? null : MemoryMarshal.Cast<byte, long>(generated.Labels.Data).ToArray();
        if (data is not null)
        {
            var score = MixtureEvaluation.Evaluate(data, generated.Samples.ToRows(), spec.Evaluation.MinSamplesPerMode, labels);
            var result = new MixtureMetrics(step, score.ModesCovered, score.ModesTotal, score.HighQualityFraction, score.ReverseKl, scores.MeanDReal, scores.MeanDFake)
            {
                LabelAccuracy = score.LabelAccuracy,
                ModesWithAnyHighQuality = score.ModesWithAnyHighQuality,
            };
            evaluations.Add(result);
            samples = generated.Samples;
            Board?.Evaluated(result, samples, data.ModeCenters, data.Std);
            Log.MemberEvaluated(logger, MemberId, step, result.ModesCovered, result.ModesTotal, result.HighQualityFraction, result.ReverseKl);
        }
        else
        {
            var result = await images.EvaluateAsync(generated.Samples, labels, step, scores.MeanDReal, scores.MeanDFake);
            imageEvaluations.Add(result);
            // A 10×10 grid's worth is kept for the report (conditional: ten of each class, as evaluation cycles them).
            samples = FirstRows(generated.Samples, 100);
            Board?.Evaluated(result, samples);
            Log.MemberImagesEvaluated(logger, MemberId, step, result.ClassesCovered, result.ClassCount, result.FrechetDistance, result.ClassKl);
        }
    }

    private static TensorMessage FirstRows(TensorMessage t, int rows)
    {
        if (t.Shape[0] <= rows) return t;
        long rowBytes = t.Data.LongLength / t.Shape[0];
        var shape = (int[])t.Shape.Clone();
        shape[0] = rows;
        return new TensorMessage(shape, t.ElementType, t.Data.AsSpan(0, (int)(rowBytes * rows)).ToArray());
    }
}
