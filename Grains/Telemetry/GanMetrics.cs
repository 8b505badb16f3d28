using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using GanCluster.Contracts.Members;

namespace GanCluster.Grains.Telemetry;

/// <summary>
/// The GanCluster meter. Per-member gauges read the latest values that coordinators publish here; the only label is
/// the member id, so series stay bounded by the members a silo runs.
/// </summary>
public sealed class GanMetrics : IDisposable
{
    public const string MeterName = "GanCluster";

    private readonly Meter meter;
    private readonly ConcurrentDictionary<string, MemberStatus> members = new();
    private readonly Counter<long> steps;
    private readonly Histogram<double> stepDuration;
    private readonly Histogram<double> checkpointDuration;

    public GanMetrics(IMeterFactory meterFactory)
    {
        meter = meterFactory.Create(MeterName);
        steps = meter.CreateCounter<long>("gan.member.steps", "{step}", "G steps completed by a member (each after its k D steps)");
        stepDuration = meter.CreateHistogram("gan.member.step.duration", "s", "Wall time of one schedule step (k D steps and one G step) seen by the coordinator",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5] });
        checkpointDuration = meter.CreateHistogram("gan.member.checkpoint.duration", "s", "Wall time to write one checkpoint of a member (both workers and the manifest)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        Gauge("gan.member.step", "{step}", "Current step of a member", s => s.Step);
        Gauge("gan.member.d_loss", "1", "Discriminator loss, averaged over the last curve interval", s => s.Latest?.DLoss);
        Gauge("gan.member.g_loss", "1", "Generator loss, averaged over the last curve interval", s => s.Latest?.GLoss);
        Gauge("gan.member.d_real", "1", "Mean D(x) on real samples (ideal equilibrium 0.5)", s => s.Latest?.DReal);
        Gauge("gan.member.d_fake", "1", "Mean D(x) on generated samples (ideal equilibrium 0.5)", s => s.Latest?.DFake);
        Gauge("gan.member.grad_norm_g", "1", "L2 norm of G's parameter gradient, mean over the last curve interval", s => s.Latest?.GradNormG);
        Gauge("gan.member.grad_norm_d", "1", "L2 norm of D's parameter gradient, mean over the last curve interval", s => s.Latest?.GradNormD);
        Gauge("gan.member.modes_covered", "{mode}", "Modes of the mixture covered by high-quality samples at the last evaluation", s => s.Evaluation?.ModesCovered);
        Gauge("gan.member.high_quality_fraction", "1", "Fraction of evaluated samples within 3 std of their nearest mode", s => s.Evaluation?.HighQualityFraction);
        Gauge("gan.member.steps_per_second", "{step}/s", "Schedule steps per second of a member", s => s.StepsPerSecond);
    }

    private void Gauge(string name, string unit, string description, Func<MemberStatus, double?> read) =>
        meter.CreateObservableGauge(name, () => Observe(read), unit, description);

    private IEnumerable<Measurement<double>> Observe(Func<MemberStatus, double?> read)
    {
        foreach (var (id, status) in members)
        {
            var value = read(status);
            if (value is double v && double.IsFinite(v))
                yield return new Measurement<double>(v, new KeyValuePair<string, object?>("member", id));
        }
    }

    public void Publish(MemberStatus status) => members[status.MemberId] = status;

    public void Forget(string memberId) => members.TryRemove(memberId, out _);

    public void StepsCompleted(string memberId, long count) =>
        steps.Add(count, new KeyValuePair<string, object?>("member", memberId));

    public void StepTook(double seconds) => stepDuration.Record(seconds);

    public void CheckpointTook(double seconds) => checkpointDuration.Record(seconds);

    public void Dispose() => meter.Dispose();
}
