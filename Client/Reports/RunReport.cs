using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Tensors;
using GanCluster.Gan.Data;
using GanCluster.Gan.Evaluation;
using GanCluster.Gan.Specs;

namespace GanCluster.Client.Reports;

/// <summary>Writes what a run leaves behind: report.json, samples.png, curves.png and samples.csv.</summary>
public static class RunReport
{
    /// <param name="members">The first is the one pictured (a sweep passes its members best first).</param>
    public static void Write(string directory, IReadOnlyList<MemberReport> members, Contracts.Sweeps.SweepStatus? sweep = null)
    {
        if (members.Count == 0) throw new ArgumentException("a report needs at least one member", nameof(members));
        Directory.CreateDirectory(directory);
        var report = new JsonObject
        {
            ["spec"] = JsonNode.Parse(SpecLoader.ToJson(members[0].Spec)),
            ["members"] = new JsonArray(members.Select(MemberJson).ToArray()),
        };
        if (sweep is not null)
        {
            report["sweep"] = new JsonObject
            {
                ["id"] = sweep.SweepId,
                ["strategy"] = sweep.Strategy,
                ["state"] = sweep.State.ToString().ToLowerInvariant(),
                ["fitness"] = sweep.Fitness,
                ["best"] = sweep.Best?.MemberId,
                ["leaderboard"] = new JsonArray(sweep.Members.OrderByDescending(m => m.Fitness ?? double.NegativeInfinity).Select(m => (JsonNode)new JsonObject
                {
                    ["id"] = m.MemberId,
                    ["population"] = m.Population,
                    ["status"] = m.State.ToString().ToLowerInvariant(),
                    ["step"] = m.Step,
                    ["fitness"] = m.Fitness is double f ? Finite(f) : null,
                    ["hyperparameters"] = m.Hyperparameters,
                }).ToArray()),
                // Population-based training's exploit/explore log; grid and random sweeps have none.
                ["lineage"] = new JsonArray(sweep.Lineage.Select(l => (JsonNode)new JsonObject
                {
                    ["member"] = l.MemberId,
                    ["step"] = l.Step,
                    ["donor"] = l.DonorId,
                    ["donorStep"] = l.DonorStep,
                    ["oldHyperparameters"] = l.OldHyperparameters,
                    ["newHyperparameters"] = l.NewHyperparameters,
                    ["at"] = l.At.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                }).ToArray()),
            };
        }
        File.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // Pictures and samples of the first member (the only one of a single run; the best one of a sweep).
        var member = members[0];
        var status = member.Status;
        string title = string.Create(CultureInfo.InvariantCulture, $"{member.Spec.Name} — {status.MemberId} — step {status.Step}");
        if (member.Samples is { } samples && SpecValidator.IsImageData(member.Spec.Data.Kind))
        {
            string caption = status.ImageEvaluation is { } ie
                ? string.Create(CultureInfo.InvariantCulture, $"{title}: {ie.ClassesCovered}/{ie.ClassCount} classes, Fréchet distance {ie.FrechetDistance:F1}")
                : title;
            var rows = samples.Shape.Length == 2 ? samples.ToRows() : TensorMessage.FromFloats(samples.ToFloats(), samples.Shape[0], samples.ElementCount > 0 ? (int)(samples.ElementCount / samples.Shape[0]) : 0).ToRows();
            DigitGrid.Write(Path.Combine(directory, "samples.png"), rows, 10,
                member.Spec.Techniques.Conditional ? caption + " (one row per class, 0–9)" : caption, member.Spec.Techniques.Conditional);
        }
        else if (member.Samples is { } points)
        {
            var data = MixtureDataset.FromSpec(member.Spec.Data);
            var rows = points.ToRows();
            string caption = status.Evaluation is { } e
                ? string.Create(CultureInfo.InvariantCulture, $"{title}\n{e.ModesCovered}/{e.ModesTotal} modes covered, {e.HighQualityFraction:P1} high quality, reverse KL {e.ReverseKl:F3}")
                : title;
            SamplesPlot.Write(Path.Combine(directory, "samples.png"), rows, data.ModeCenters, data.Std, caption);
            var assignment = MixtureEvaluation.Assign(data, rows);
            SamplesCsv.Write(Path.Combine(directory, "samples.csv"), rows, assignment.NearestMode, assignment.Distance, data.Std);
        }
        var curve = member.Curve;
        CurvesPlot.Write(Path.Combine(directory, "curves.png"),
            curve.Select(p => p.Step).ToArray(), curve.Select(p => p.DLoss).ToArray(), curve.Select(p => p.GLoss).ToArray(),
            curve.Select(p => p.DReal).ToArray(), curve.Select(p => p.DFake).ToArray(), title);
    }

    private static JsonObject MemberJson(MemberReport m)
    {
        var s = m.Spec;
        var e = m.Status.Evaluation;
        return new JsonObject
        {
            ["id"] = m.Status.MemberId,
            ["status"] = m.Status.State.ToString().ToLowerInvariant(),
            ["step"] = m.Status.Step,
            ["error"] = m.Status.Error,
            // How it last resumed: the checkpoint's step (null: it did not resume), a restart from step 0 when no
            // checkpoint was usable and the spec allowed it, and the checkpoints it passed over and why.
            ["resumedFromStep"] = m.Status.ResumedFromStep,
            ["restartedFromScratch"] = m.Status.RestartedFromScratch,
            ["skippedCheckpoints"] = new JsonArray(m.Status.SkippedCheckpoints.Select(k => (JsonNode)new JsonObject { ["step"] = k.Step, ["reason"] = k.Reason }).ToArray()),
            ["hyperparameters"] = new JsonObject
            {
                ["seed"] = s.Seed,
                ["generatorLoss"] = s.Loss.Generator,
                ["realSmoothing"] = s.Loss.RealSmoothing,
                ["fakeSmoothing"] = s.Loss.FakeSmoothing,
                ["generatorLr"] = s.Optimizer.GeneratorLr,
                ["discriminatorLr"] = s.Optimizer.DiscriminatorLr,
                ["beta1"] = s.Optimizer.Beta1,
                ["beta2"] = s.Optimizer.Beta2,
                ["batchSize"] = s.Training.BatchSize,
                ["dStepsPerGStep"] = s.Training.DStepsPerGStep,
                ["generatorWidth"] = s.Model.Generator.Width,
                ["generatorDepth"] = s.Model.Generator.Depth,
                ["discriminatorWidth"] = s.Model.Discriminator.Width,
                ["discriminatorDepth"] = s.Model.Discriminator.Depth,
                ["lossKind"] = s.Loss.Kind,
                ["packing"] = s.Techniques.Packing,
                ["generatorEma"] = s.Techniques.GeneratorEma,
                ["spectralNorm"] = s.Techniques.SpectralNorm,
            },
            ["metrics"] = e is not null ? MetricsJson(e, withStep: false) : m.Status.ImageEvaluation is { } ie ? ImageJson(ie, withStep: false) : null,
            ["imageEvaluations"] = new JsonArray(m.ImageEvaluations.Select(v => (JsonNode)ImageJson(v, withStep: true)).ToArray()),
            ["evaluations"] = new JsonArray(m.Evaluations.Select(v => (JsonNode)MetricsJson(v, withStep: true)).ToArray()),
            ["checkpoint"] = m.CheckpointPath,
        };
    }

    private static JsonObject MetricsJson(MixtureMetrics e, bool withStep)
    {
        var json = new JsonObject();
        if (withStep) json["step"] = e.Step;
        json["modesCovered"] = e.ModesCovered;
        json["modesTotal"] = e.ModesTotal;
        if (e.ModesWithAnyHighQuality is int any) json["modesWithAnyHighQuality"] = any;
        json["highQualityFraction"] = Finite(e.HighQualityFraction);
        json["reverseKl"] = Finite(e.ReverseKl);
        json["meanDReal"] = Finite(e.MeanDReal);
        json["meanDFake"] = Finite(e.MeanDFake);
        if (e.LabelAccuracy is double a) json["labelAccuracy"] = Finite(a);
        return json;
    }

    private static JsonObject ImageJson(ImageMetrics e, bool withStep)
    {
        var json = new JsonObject();
        if (withStep) json["step"] = e.Step;
        json["classesCovered"] = e.ClassesCovered;
        json["classCount"] = e.ClassCount;
        json["classKl"] = Finite(e.ClassKl);
        json["confidentFraction"] = Finite(e.ConfidentFraction);
        json["frechetDistance"] = Finite(e.FrechetDistance);
        json["labelAccuracy"] = e.LabelAccuracy is double a ? Finite(a) : null;
        json["meanDReal"] = Finite(e.MeanDReal);
        json["meanDFake"] = Finite(e.MeanDFake);
        return json;
    }

    // JSON has no NaN or infinity; a diverged member's metrics are written as null.
    private static JsonNode? Finite(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
