using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Serilog;
using GanCluster.Grains;
using GanCluster.Silo.Hosting;

namespace GanCluster.Client.Hosting;

/// <summary>Thrown when the cluster named by --cluster cannot be reached.</summary>
public sealed class ClusterUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The client's way into a cluster: an in-process silo (the default, so that one command trains with no external
/// service) or a gateway of a running cluster (--cluster HOST:PORT).
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost host;

    private ClusterConnection(IHost host, string description)
    {
        this.host = host;
        Description = description;
        Client = host.Services.GetRequiredService<IClusterClient>();
    }

    public IClusterClient Client { get; }
    /// <summary>The host's services (for the embedded silo: its compute threads, for the benchmarks' tensor counts).</summary>
    public IServiceProvider Services => host.Services;
    public string Description { get; }

    /// <summary>Hosts a silo in this process on free loopback ports, logging to <paramref name="logFile"/>.</summary>
    public static async Task<ClusterConnection> StartEmbeddedAsync(IConfiguration configuration, string logFile, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddConfiguration(configuration);
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gan:SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gan:GatewayPort"] = "0",
        });
        builder.Services.AddSerilog(new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Orleans", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.File(logFile, outputTemplate: "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {Message:lj} {Properties:j}{NewLine}{Exception}")
            .CreateLogger(), dispose: true);
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        builder.UseOrleans(silo => silo.UseGanLocalhostClustering(builder.Configuration).AddGanCluster(builder.Configuration));
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new ClusterConnection(host, "embedded silo");
    }

    /// <summary>
    /// Connects to a running cluster: <c>redis://HOST:PORT</c> finds every silo's gateway in the cluster's Redis (and
    /// fails over to another when one dies), <c>HOST:PORT</c> uses that one gateway. Fails within
    /// <paramref name="timeout"/> with a clear message.
    /// </summary>
    public static async Task<ClusterConnection> ConnectAsync(string gateway, TimeSpan timeout, CancellationToken cancellationToken, IConfiguration? configuration = null)
    {
        bool viaRedis = gateway.StartsWith("redis://", StringComparison.OrdinalIgnoreCase);
        var endpoint = viaRedis ? null : ParseEndpoint(gateway);
        var redis = viaRedis ? RedisHosting.ParseRedis(gateway) : null;
        var cluster = configuration is null ? new GanClusterOptions() : GanClusterOptions.From(configuration);
        var options = configuration?.GetSection(GanSiloOptions.Section).Get<GanSiloOptions>() ?? new GanSiloOptions();
        var builder = Host.CreateApplicationBuilder();
        // The command reports every failure itself in one line (the hosting and Orleans errors of a connection attempt or a
        // gateway that died would print stack traces before it).
        builder.Services.AddSerilog(new LoggerConfiguration().MinimumLevel.Fatal().WriteTo.Console().CreateLogger(), dispose: true);
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
        builder.UseOrleansClient(client =>
        {
            if (redis is not null)
            {
                // An unreachable Redis fails the start at once instead of retrying in the background.
                redis.AbortOnConnectFail = true;
                redis.ConnectTimeout = (int)Math.Min(timeout.TotalMilliseconds, 5000);
                client.UseRedisClustering(o => o.ConfigurationOptions = redis);
                // Calls in flight through a gateway that dies fail after this long, then go through another gateway.
                client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = cluster.ResponseTimeout);
                // Silos that join later (a restarted one) become gateways for this client within seconds, not a minute.
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            }
            else client.UseStaticClustering(endpoint!);
            // A client joins only a cluster with its cluster and service ids (Gan:ClusterId, Gan:ServiceId).
            client.Configure<ClusterOptions>(o => { o.ClusterId = options.ClusterId; o.ServiceId = options.ServiceId; });
            if (configuration is not null) client.UseGanTls(configuration);
        });
        var host = builder.Build();
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await host.StartAsync(timeoutSource.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SiloUnavailableException or OrleansException or SocketException
                                   or StackExchange.Redis.RedisException or TimeoutException)
        {
            host.Dispose();
            string where = redis is null ? $"a GanCluster gateway at {gateway}" : $"a GanCluster cluster through Redis at {RedisHosting.DescribeRedis(redis)}";
            throw new ClusterUnreachableException($"cannot reach {where} within {timeout.TotalSeconds:0} s: {e.Message}", e);
        }
        return new ClusterConnection(host, $"cluster at {gateway}");
    }

    /// <summary>
    /// How long a command waits to connect: a cluster found through Redis gets 30 s (a loaded cluster's gateways can take
    /// more than 10 s to answer a new client), one named gateway 10 s.
    /// </summary>
    public static TimeSpan ConnectTimeout(string gateway) =>
        TimeSpan.FromSeconds(gateway.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) ? 30 : 10);

    public static IPEndPoint ParseEndpoint(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is < 1 or > 65535)
            throw new ArgumentException($"--cluster: expected HOST:PORT of a silo gateway (for example 127.0.0.1:30000) or redis://HOST:PORT of a cluster's Redis, got '{address}'");
        string hostName = address[..colon].Trim('[', ']');
        if (IPAddress.TryParse(hostName, out var ip)) return new IPEndPoint(ip, port);
        try
        {
            var addresses = Dns.GetHostAddresses(hostName);
            var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new ArgumentException($"--cluster: host '{hostName}' has no address");
            return new IPEndPoint(chosen, port);
        }
        catch (SocketException e)
        {
            throw new ClusterUnreachableException($"--cluster: cannot resolve host '{hostName}': {e.Message}", e);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await host.StopAsync(stop.Token);
        }
        finally
        {
            host.Dispose();
        }
    }
}

/// <summary>
/// The hosts a command starts do not take Ctrl+C or SIGTERM themselves (the default console lifetime would stop the
/// silo under a command still talking to it): the command handles them (Cli/Interrupt.cs) and disposes the
/// host when it is done.
/// </summary>
internal sealed class CommandLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
