using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GanCluster.Contracts.Members;
using GanCluster.Grains.Gan.Data;
using GanCluster.Grains.Gan.Evaluation;
using GanCluster.Grains.Specs;

namespace GanCluster.Client.Reports;

/// <summary>Writes what a run leaves behind: report.json, samples.png, curves.png and samples.csv.</summary>
public static class RunReport
{
    public static void Write(string directory, IReadOnlyList<MemberReport> members)
    {
        if (members.Count == 0) throw new ArgumentException("a report needs at least one member", nameof(members));
        Directory.CreateDirectory(directory);
        var report = new JsonObject
        {
            ["spec"] = JsonNode.Parse(SpecLoader.ToJson(members[0].Spec)),
            ["members"] = new JsonArray(members.Select(MemberJson).ToArray()),
        };
        File.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        // Pictures and samples of the first member (the only one of a single run; the best one of a sweep).
        var member = members[0];
        var data = MixtureDataset.FromSpec(member.Spec.Data);
        var status = member.Status;
        string title = string.Create(CultureInfo.InvariantCulture, $"{member.Spec.Name} — {status.MemberId} — step {status.Step}");
        if (member.Samples is { } samples)
        {
            var rows = samples.ToRows();
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
            },
            ["metrics"] = e is null ? null : MetricsJson(e, withStep: false),
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
        json["highQualityFraction"] = Finite(e.HighQualityFraction);
        json["reverseKl"] = Finite(e.ReverseKl);
        json["meanDReal"] = Finite(e.MeanDReal);
        json["meanDFake"] = Finite(e.MeanDFake);
        return json;
    }

    // JSON has no NaN or infinity; a diverged member's metrics are written as null.
    private static JsonNode? Finite(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
