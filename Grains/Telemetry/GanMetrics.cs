using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using GanCluster.Contracts.Members;
using Microsoft.Extensions.Options;
using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Telemetry;

/// <summary>
/// Who a member is, as metrics and logs label it: its sweep, its population in that sweep, its id. A member trained on
/// its own (not in a sweep) is sweep "none", population "0". All three are bounded by the members a cluster runs.
/// </summary>
public sealed record MemberLabels(string Sweep, string Population, string Member)
{
    public const string NoSweep = "none";

    public static MemberLabels Standalone(string member) => new(NoSweep, "0", member);

    public KeyValuePair<string, object?>[] Tags() =>
        [new("sweep", Sweep), new("population", Population), new("member", Member)];
}

/// <summary>
/// The GanCluster meter ("GanCluster"; exported as gancluster_*). Per-member gauges read the latest status that each
/// coordinator on this silo publishes here, labelled sweep, population and member; per-silo instruments (latencies,
/// bytes, checkpoints, memory, member counts, PBT events) carry only small fixed label sets. Every instrument has a
/// base unit (s, By, 1, or a {count} annotation) and a description.
/// </summary>
public sealed class GanMetrics : IDisposable
{
    public const string MeterName = "GanCluster";

    /// <summary>The values of the state label of gancluster_member_status and gancluster_members.</summary>
    public static readonly string[] States = Enum.GetValues<MemberState>().Select(StateLabel).ToArray();

    /// <summary>Sweep members not started yet (waiting for a slot under the sweep's concurrency limit).</summary>
    public const string Queued = "queued";

    private readonly Meter meter;
    private readonly ConcurrentDictionary<string, (MemberLabels Labels, MemberStatus Status)> members = new();
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, int>> sweeps = new();
    private readonly Counter<long> steps;
    private readonly Counter<long> exchangedBytes;
    private readonly Counter<long> exploits;
    private readonly Counter<long> explores;
    private readonly Histogram<double> stepDuration;
    private readonly Histogram<double> workerCallDuration;
    private readonly Histogram<double> checkpointDuration;
    private readonly Histogram<long> checkpointSize;
    private readonly string device;

    /// <param name="device">This silo's default compute device (Gan:Compute:Device), the label of the device memory gauge.</param>
    public GanMetrics(IMeterFactory meterFactory, string device = "cpu")
    {
        this.device = device;
        meter = meterFactory.Create(MeterName);
        steps = meter.CreateCounter<long>("gancluster.member.steps", "{step}", "G steps completed by a member (each after its k D steps)");
        exchangedBytes = meter.CreateCounter<long>("gancluster.exchange.bytes", "By",
            "Bytes that crossed a grain boundary between a member's workers: kind=samples (G to D), gradients (dLoss_G/dx, D to G), weights (network weights exported or loaded)");
        exploits = meter.CreateCounter<long>("gancluster.pbt.exploits", "{exploit}", "PBT exploits: a member took a top member's checkpoint (counted by the sweep that decided it)");
        explores = meter.CreateCounter<long>("gancluster.pbt.explores", "{explore}", "PBT explores: an exploiting member's hyperparameters were perturbed or resampled");
        stepDuration = meter.CreateHistogram("gancluster.step.duration", "s", "Wall time of one schedule step (k D steps and one G step) seen by the coordinator",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5] });
        workerCallDuration = meter.CreateHistogram("gancluster.worker.call.duration", "s",
            "Wall time of one call to a worker grain as its caller sees it: role=discriminator, operation=train_alternating (a run of alternating steps, called by the coordinator); role=generator, operation=sample|apply_gradient_and_sample|apply_gradient (called by D); role=both, operation=exchange_round",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5] });
        checkpointDuration = meter.CreateHistogram("gancluster.checkpoint.duration", "s", "Wall time to write one checkpoint of a member (both workers and the manifest)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        checkpointSize = meter.CreateHistogram<long>("gancluster.checkpoint.size", "By", "Size of one checkpoint of a member (generator and discriminator files together)",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [10_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000, 300_000_000, 1_000_000_000] });

        Gauge("gancluster.member.step", "{step}", "Current step of a member", s => s.Step);
        Gauge("gancluster.member.target_steps", "{step}", "Steps a member trains for (training.steps)", s => s.TotalSteps);
        Gauge("gancluster.member.discriminator_loss", "1", "Discriminator loss, mean over the last curve interval", s => s.Latest?.DLoss);
        Gauge("gancluster.member.generator_loss", "1", "Generator loss, mean over the last curve interval", s => s.Latest?.GLoss);
        Gauge("gancluster.member.discriminator_real", "1", "Mean D(x) on real samples over the last curve interval (ideal equilibrium 0.5)", s => s.Latest?.DReal);
        Gauge("gancluster.member.discriminator_fake", "1", "Mean D(x) on generated samples over the last curve interval (ideal equilibrium 0.5)", s => s.Latest?.DFake);
        Gauge("gancluster.member.discriminator_real_distance", "1", "|mean D(x) on real samples - 1/2|: distance from the ideal equilibrium", s => s.Latest is { } c ? Math.Abs(c.DReal - 0.5) : null);
        Gauge("gancluster.member.discriminator_fake_distance", "1", "|mean D(x) on generated samples - 1/2|: distance from the ideal equilibrium", s => s.Latest is { } c ? Math.Abs(c.DFake - 0.5) : null);
        Gauge("gancluster.member.generator_grad_norm", "1", "L2 norm of G's parameter gradient, mean over the last curve interval", s => s.Latest?.GradNormG);
        Gauge("gancluster.member.discriminator_grad_norm", "1", "L2 norm of D's parameter gradient, mean over the last curve interval", s => s.Latest?.GradNormD);
        Gauge("gancluster.member.steps_per_second", "{step}/s", "Schedule steps per second of a member", s => s.StepsPerSecond);
        Gauge("gancluster.member.fitness", "1", "Fitness a sweep ranks the member by at its last evaluation: mixtures modes covered fraction x high-quality fraction; images minus the Frechet distance",
            s => Contracts.Members.Fitness.Of(s));
        Gauge("gancluster.member.evaluation_step", "{step}", "Step of the member's last evaluation", s => s.Evaluation?.Step ?? s.ImageEvaluation?.Step);
        // Mixtures (2-D rings and grids, 1-D Gaussian).
        Gauge("gancluster.member.modes_covered", "{mode}", "Modes of the mixture covered by at least minSamplesPerMode high-quality samples at the last evaluation", s => s.Evaluation?.ModesCovered);
        Gauge("gancluster.member.mixture_modes", "{mode}", "Modes of the mixture", s => s.Evaluation?.ModesTotal);
        Gauge("gancluster.member.high_quality_fraction", "1", "Fraction of evaluated samples within 3 std of their nearest mode", s => s.Evaluation?.HighQualityFraction);
        Gauge("gancluster.member.reverse_kl", "1", "KL divergence (nats) of the samples' histogram over modes from the uniform one", s => s.Evaluation?.ReverseKl);
        // Images, scored by the digit classifier.
        Gauge("gancluster.member.classes_covered", "{class}", "Classes the classifier finds among the generated images at the last evaluation", s => s.ImageEvaluation?.ClassesCovered);
        Gauge("gancluster.member.class_kl", "1", "KL divergence (nats) of the generated images' class histogram from the uniform one", s => s.ImageEvaluation?.ClassKl);
        Gauge("gancluster.member.confident_fraction", "1", "Fraction of generated images the classifier labels confidently", s => s.ImageEvaluation?.ConfidentFraction);
        Gauge("gancluster.member.frechet_distance", "1", "Frechet distance between real and generated images in the classifier's feature space", s => s.ImageEvaluation?.FrechetDistance);
        Gauge("gancluster.member.label_accuracy", "1", "Conditional GANs: fraction of samples that land on the class they were generated for", s => s.Evaluation?.LabelAccuracy ?? s.ImageEvaluation?.LabelAccuracy);

        meter.CreateObservableGauge("gancluster.member.status", ObserveStatus, "1",
            "1 for the state a member is in, 0 for the others (state=pending|running|paused|completed|cancelled|diverged|failed)");
        meter.CreateObservableGauge("gancluster.members", ObserveMemberCounts, "{member}",
            "Members whose coordinator is on this silo, by state (finished members stay until their coordinator is collected)");
        meter.CreateObservableGauge("gancluster.sweep.members", ObserveSweepCounts, "{member}",
            "Members of a sweep whose sweep grain is on this silo, by state; queued = not started yet");
        meter.CreateObservableGauge("gancluster.device.memory.usage", ObserveMemory, "By",
            "Memory in use by this silo's compute device; device=cpu is the process's resident set (libtorch CPU tensors included)");
    }

    private void Gauge(string name, string unit, string description, Func<MemberStatus, double?> read) =>
        meter.CreateObservableGauge(name, () => Observe(read), unit, description);

    private IEnumerable<Measurement<double>> Observe(Func<MemberStatus, double?> read)
    {
        foreach (var (_, (labels, status)) in members)
        {
            var value = read(status);
            if (value is double v && double.IsFinite(v))
                yield return new Measurement<double>(v, labels.Tags());
        }
    }

    private IEnumerable<Measurement<int>> ObserveStatus()
    {
        foreach (var (_, (labels, status)) in members)
        {
            string current = StateLabel(status.State);
            foreach (var state in States)
                yield return new Measurement<int>(state == current ? 1 : 0, [.. labels.Tags(), new("state", state)]);
        }
    }

    private IEnumerable<Measurement<int>> ObserveMemberCounts()
    {
        var counts = members.Values.GroupBy(m => StateLabel(m.Status.State)).ToDictionary(g => g.Key, g => g.Count());
        foreach (var state in States)
            yield return new Measurement<int>(counts.GetValueOrDefault(state), new KeyValuePair<string, object?>("state", state));
    }

    private IEnumerable<Measurement<int>> ObserveSweepCounts()
    {
        foreach (var (sweep, counts) in sweeps)
            foreach (var state in States.Append(Queued))
                yield return new Measurement<int>(counts.GetValueOrDefault(state), new("sweep", sweep), new("state", state));
    }

    private IEnumerable<Measurement<long>> ObserveMemory()
    {
        // TorchSharp exposes no CUDA allocator statistics; on a CUDA silo this is still the host process's memory.
        yield return new Measurement<long>(Environment.WorkingSet, new KeyValuePair<string, object?>("device", device.StartsWith("cuda", StringComparison.Ordinal) ? "host" : "cpu"));
    }

    public static string StateLabel(MemberState state) => state.ToString().ToLowerInvariant();

    public void Publish(MemberLabels labels, MemberStatus status)
    {
        // First sight of a member on this silo: its step counter starts at 0, so increase() and rate() see its first steps.
        if (members.TryAdd(status.MemberId, (labels, status))) steps.Add(0, labels.Tags());
        else members[status.MemberId] = (labels, status);
    }

    /// <summary>A PBT member's sweep starts it: its exploit and explore counters start at 0, so increase() sees the first of each.</summary>
    public void PbtMemberStarted(MemberLabels labels)
    {
        exploits.Add(0, labels.Tags());
        explores.Add(0, labels.Tags());
    }

    public void Forget(string memberId) => members.TryRemove(memberId, out _);

    /// <summary>A sweep's member counts by state label (including <see cref="Queued"/>).</summary>
    public void PublishSweep(string sweepId, IReadOnlyDictionary<string, int> counts) => sweeps[sweepId] = counts;

    public void ForgetSweep(string sweepId) => sweeps.TryRemove(sweepId, out _);

    public void StepsCompleted(MemberLabels labels, long count)
    {
        if (count > 0) steps.Add(count, labels.Tags());
    }

    public void StepTook(double seconds) => stepDuration.Record(seconds);

    public void WorkerCallTook(string role, string operation, double seconds) =>
        workerCallDuration.Record(seconds, new KeyValuePair<string, object?>("role", role), new KeyValuePair<string, object?>("operation", operation));

    /// <summary>kind = samples | gradients | weights.</summary>
    public void Exchanged(string kind, long bytes)
    {
        if (bytes > 0) exchangedBytes.Add(bytes, new KeyValuePair<string, object?>("kind", kind));
    }

    /// <summary>Bytes of a batch of samples from G to D (samples and, for conditional GANs, their classes).</summary>
    public static long BytesOf(Contracts.Workers.GeneratorBatch batch) =>
        batch.ForDiscriminator.Data.LongLength + batch.ForGenerator.Data.LongLength
        + (batch.DiscriminatorLabels?.Data.LongLength ?? 0) + (batch.GeneratorLabels?.Data.LongLength ?? 0);

    public void CheckpointTook(double seconds, long bytes)
    {
        checkpointDuration.Record(seconds);
        checkpointSize.Record(bytes);
    }

    public void Exploited(MemberLabels labels, bool explored)
    {
        exploits.Add(1, labels.Tags());
        if (explored) explores.Add(1, labels.Tags());
    }

    public void Dispose() => meter.Dispose();
}
