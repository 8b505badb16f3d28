using System.Diagnostics.Metrics;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Evaluation;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using GanCluster.Grains.Compute;
using GanCluster.Grains.Evaluation;
using GanCluster.Grains.Placement;
using GanCluster.Grains;

namespace GanCluster.Silo.Hosting;

/// <summary>Configuration section "Gan": where data lives and how the embedded cluster listens.</summary>
public sealed class GanSiloOptions
{
    public const string Section = "Gan";
    /// <summary>Checkpoints and grain state of the embedded default.</summary>
    public string DataDirectory { get; set; } = "data";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Localhost clustering: the silo port of the first silo, for a second silo on the same machine (0 = this is the first).</summary>
    public int PrimarySiloPort { get; set; }
    public string ClusterId { get; set; } = "gancluster";
    public string ServiceId { get; set; } = "gancluster";
}

public static class GanSiloBuilderExtensions
{
    /// <summary>The embedded default: a one-machine cluster on loopback, no external service.</summary>
    public static ISiloBuilder UseGanLocalhostClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var options = Options(configuration);
        if (options.SiloPort is < 1 or > 65535) throw Invalid($"Gan:SiloPort must be a TCP port, got {options.SiloPort}");
        if (options.GatewayPort is < 0 or > 65535) throw Invalid($"Gan:GatewayPort must be a TCP port or 0 (no gateway), got {options.GatewayPort}");
        var primary = options.PrimarySiloPort > 0 ? new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, options.PrimarySiloPort) : null;
        return silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, primary, serviceId: options.ServiceId, clusterId: options.ClusterId);
    }

    /// <summary>
    /// Everything a GanCluster silo needs whatever its clustering: the grains' services (compute threads, checkpoint
    /// store, metrics), the "gan-store" grain storage, and the resumption of interrupted members at start-up.
    /// </summary>
    public static ISiloBuilder AddGanCluster(this ISiloBuilder silo, IConfiguration configuration)
    {
        var tls = GanTlsOptions.From(configuration);
        var certificate = tls.Enabled ? tls.LoadCertificate() : null;
        silo.UseGanTls(certificate);
        string dataDirectory = Path.GetFullPath(Options(configuration).DataDirectory);
        silo.Services.Configure<ComputeOptions>(configuration.GetSection("Gan:Compute"));
        silo.Services.AddSingleton<TorchCompute>();
        silo.Services.TryAddSingleton<IDeviceAvailability, LocalDeviceAvailability>();
        silo.Services.AddMetrics();
        silo.Services.AddSingleton(sp => new GanMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<IOptions<ComputeOptions>>().Value.Device));
        silo.Services.AddSingleton(sp => new ImageEvaluator(sp.GetRequiredService<TorchCompute>(), dataDirectory,
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ImageEvaluator>>()));
        silo.Services.Configure<GanClusterOptions>(configuration.GetSection(GanClusterOptions.Section));
        if (GanClusterOptions.From(configuration).IsCluster) silo.AddGanRedisStorage(configuration); // Gan:Cluster:Redis
        else
        {
            silo.Services.AddSingleton<ICheckpointStore>(new FileCheckpointStore(dataDirectory));
            silo.Services.AddGrainStorage(GanStorage.Name, (_, _) => new FileGrainStorage(Path.Combine(dataDirectory, "grains")));
        }
        silo.Services.AddSingleton(new TensorBoardSink(configuration[TensorBoardSink.Setting]));
        silo.Services.AddSingleton<LocalMembers>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, MemberResumer>();
        silo.AddGanDevicePlacement(configuration);
        return silo;
    }

    private static GanSiloOptions Options(IConfiguration configuration) =>
        configuration.GetSection(GanSiloOptions.Section).Get<GanSiloOptions>() ?? new GanSiloOptions();

    private static OptionsValidationException Invalid(string message) =>
        new(GanSiloOptions.Section, typeof(GanSiloOptions), [message]);
}
