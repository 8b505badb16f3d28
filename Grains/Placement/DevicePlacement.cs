using System.Diagnostics;
using System.Globalization;
using GanCluster.Gan.Specs;
using GanCluster.Contracts.Workers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;
using Orleans.Serialization.TypeSystem;

namespace GanCluster.Grains.Placement;

/// <summary>
/// What a silo advertises to the cluster through Orleans' silo metadata: its devices (kind, count, memory of each)
/// and how many worker grains each device takes. A coordination-only silo hosts no workers (it still runs
/// coordinators and sweeps).
/// </summary>
public sealed record SiloDevices(string Kind, int Count, long MemoryMiB, int WorkersPerDevice, bool CoordinationOnly)
{
    public const string KindKey = "gan.device.kind";
    public const string CountKey = "gan.device.count";
    public const string MemoryKey = "gan.device.memory-mib";
    public const string WorkersPerDeviceKey = "gan.device.workers-per-device";
    public const string CoordinationOnlyKey = "gan.coordination-only";

    /// <summary>How many worker grains this silo may host.</summary>
    public int WorkerCapacity => CoordinationOnly ? 0 : Count * WorkersPerDevice;

    public Dictionary<string, string> ToMetadata() => new()
    {
        [KindKey] = Kind,
        [CountKey] = Count.ToString(CultureInfo.InvariantCulture),
        [MemoryKey] = MemoryMiB.ToString(CultureInfo.InvariantCulture),
        [WorkersPerDeviceKey] = WorkersPerDevice.ToString(CultureInfo.InvariantCulture),
        [CoordinationOnlyKey] = CoordinationOnly ? "true" : "false",
    };

    /// <summary>The devices a silo advertised, or null when its metadata has none (not known yet, or not a GanCluster silo).</summary>
    public static SiloDevices? FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(KindKey, out var kind)
            || !metadata.TryGetValue(CountKey, out var count) || !int.TryParse(count, CultureInfo.InvariantCulture, out int n)
            || !metadata.TryGetValue(MemoryKey, out var memory) || !long.TryParse(memory, CultureInfo.InvariantCulture, out long mib)
            || !metadata.TryGetValue(WorkersPerDeviceKey, out var per) || !int.TryParse(per, CultureInfo.InvariantCulture, out int workers))
            return null;
        bool coordinationOnly = metadata.TryGetValue(CoordinationOnlyKey, out var c) && c == "true";
        return new SiloDevices(kind, n, mib, workers, coordinationOnly);
    }

    public override string ToString() => CoordinationOnly
        ? "coordination only"
        : $"{Count} × {Kind} of {MemoryMiB:N0} MiB, {WorkersPerDevice} workers each";

    /// <summary>Default of Gan:Compute:WorkersPerDevice: generous, so one machine never runs out of slots.</summary>
    public const int DefaultWorkersPerDevice = 256;

    /// <summary>
    /// This silo's devices from Gan:Compute: Device (cpu | cuda | cuda:N), WorkersPerDevice, CoordinationOnly and
    /// DeviceMemoryMiB (0 = detect). A CPU silo advertises one device of kind cpu whose memory is the machine's total
    /// physical memory (MemTotal of /proc/meminfo). A CUDA silo advertises every visible GPU for "cuda", one for
    /// "cuda:N", each with the memory nvidia-smi reports.
    /// </summary>
    public static SiloDevices Detect(IConfiguration configuration)
    {
        var section = configuration.GetSection("Gan:Compute");
        string device = section["Device"] is { Length: > 0 } d ? d : "cpu";
        int workers = Int(section, "WorkersPerDevice", DefaultWorkersPerDevice);
        if (workers is < 1 or > 100_000) throw new ArgumentException($"Gan:Compute:WorkersPerDevice must be between 1 and 100000, got {workers}");
        bool coordinationOnly = section["CoordinationOnly"] is { } co && bool.TryParse(co, out bool b) ? b
            : section["CoordinationOnly"] is null ? false
            : throw new ArgumentException($"Gan:Compute:CoordinationOnly must be true or false, got '{section["CoordinationOnly"]}'");
        long configuredMemory = Int(section, "DeviceMemoryMiB", 0);
        if (configuredMemory < 0) throw new ArgumentException($"Gan:Compute:DeviceMemoryMiB must be 0 (detect) or more, got {configuredMemory}");

        if (device == "cpu")
            return new SiloDevices("cpu", 1, configuredMemory > 0 ? configuredMemory : PhysicalMemoryMiB(), workers, coordinationOnly);
        if (device == "cuda" || device.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var gpus = NvidiaSmiMemoryMiB();
            int count = device == "cuda" ? Math.Max(gpus.Count, (int)TorchSharp.torch.cuda.device_count()) : 1;
            long memory = configuredMemory > 0 ? configuredMemory : gpus.Count > 0 ? gpus.Min() : 0;
            return new SiloDevices("cuda", count, memory, workers, coordinationOnly);
        }
        throw new ArgumentException($"Gan:Compute:Device must be cpu, cuda or cuda:N, got '{device}'");
    }

    private static int Int(IConfigurationSection section, string key, int fallback)
    {
        var text = section[key];
        if (string.IsNullOrEmpty(text)) return fallback;
        return int.TryParse(text, CultureInfo.InvariantCulture, out int value) ? value
            : throw new ArgumentException($"Gan:Compute:{key} must be a whole number, got '{text}'");
    }

    private static long PhysicalMemoryMiB()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            // "MemTotal:       24594244 kB"
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long kb)) return kb / 1024;
        }
        throw new InvalidDataException("/proc/meminfo has no MemTotal line: set Gan:Compute:DeviceMemoryMiB");
    }

    /// <summary>Each GPU's total memory from nvidia-smi; empty when nvidia-smi is not there.</summary>
    private static List<long> NvidiaSmiMemoryMiB()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nvidia-smi", "--query-gpu=memory.total --format=csv,noheader,nounits")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null) return [];
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(10_000)) { process.Kill(); return []; }
            return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(l => long.TryParse(l, CultureInfo.InvariantCulture, out long v) ? v : 0).Where(v => v > 0)];
        }
        catch (System.ComponentModel.Win32Exception) { return []; }
    }
}

/// <summary>Places worker grains with the silo's DevicePlacementDirector: on silos with free device capacity, least loaded first.</summary>
[GenerateSerializer, Immutable, Alias("gan.DevicePlacement")]
public sealed class DevicePlacement : PlacementStrategy
{
    public static readonly DevicePlacement Instance = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DevicePlacementAttribute() : PlacementAttribute(DevicePlacement.Instance);

/// <summary>The devices of the cluster's active silos, as they advertised them.</summary>
public sealed class ClusterDevices
{
    private readonly IClusterMembershipService? membership;
    private readonly Func<SiloAddress, SiloDevices?> devicesOf;

    public ClusterDevices(IClusterMembershipService membership, ISiloMetadataCache metadata)
        : this(membership, silo => SiloDevices.FromMetadata(metadata.GetSiloMetadata(silo).Metadata)) { }

    /// <summary>For tests: devices from a lookup instead of Orleans' metadata cache.</summary>
    internal ClusterDevices(IClusterMembershipService? membership, Func<SiloAddress, SiloDevices?> devicesOf)
    {
        this.membership = membership;
        this.devicesOf = devicesOf;
    }

    public IReadOnlyList<(SiloAddress Silo, SiloDevices? Devices)> ActiveSilos() =>
        membership is null ? [] : [.. membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => (m.SiloAddress, devicesOf(m.SiloAddress)))];

    public SiloDevices? Of(SiloAddress silo) => devicesOf(silo);

    /// <summary>
    /// Refuses a spec whose member needs more device memory than the largest device of any silo that hosts workers
    /// (see <see cref="ModelFootprint"/>). Silos whose devices are not known yet are not judged.
    /// </summary>
    public void ThrowIfTooLarge(GanSpec spec, string? point = null)
    {
        var problem = TooLarge(spec, point);
        if (problem is not null) throw new SpecException([problem]);
    }

    public string? TooLarge(GanSpec spec, string? point = null)
    {
        var workerSilos = ActiveSilos().Where(s => s.Devices is { WorkerCapacity: > 0, MemoryMiB: > 0 }).ToList();
        if (workerSilos.Count == 0) return null;
        var largest = workerSilos.MaxBy(s => s.Devices!.MemoryMiB);
        var footprint = ModelFootprint.Estimate(spec);
        long needMiB = (footprint.LargestWorkerBytes + (1 << 20) - 1) >> 20;
        if (needMiB <= largest.Devices!.MemoryMiB) return null;
        return $"{(point is null ? "" : $"search.space point {point}: ")}device memory: a worker of this member needs about {needMiB:N0} MiB on one device " +
               $"(generator {footprint.GeneratorParameters:N0} parameters, {footprint.GeneratorWorkerBytes >> 20:N0} MiB; discriminator {footprint.DiscriminatorParameters:N0} parameters, " +
               $"{footprint.DiscriminatorWorkerBytes >> 20:N0} MiB; parameters × 4 bytes × (weights, gradients, Adam's two moments) + activations for batch {spec.Training.BatchSize}), " +
               $"more than the largest device of any worker silo ({largest.Devices.MemoryMiB:N0} MiB, {largest.Devices.Kind} on {largest.Silo}); " +
               "use a smaller model or batch, or add a silo with a larger device";
    }
}
