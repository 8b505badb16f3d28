using GanCluster.Grains.Telemetry;
using GanCluster.Silo.Hosting;
using OpenTelemetry.Metrics;
using Serilog;
using Serilog.Formatting.Compact;

namespace GanCluster.Silo;

public static class GanSiloApp
{
    /// <summary>The default /metrics and /health address: loopback only, on the port Prometheus exporters use.</summary>
    public const string DefaultUrl = "http://127.0.0.1:9464";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(RedisHosting.TranslateClusterArgument(args));
        builder.AddGanSilo();
        var app = builder.Build();
        app.MapGanEndpoints();
        return app;
    }

    public static WebApplicationBuilder AddGanSilo(this WebApplicationBuilder builder)
    {
        string? urls = new[] { builder.Configuration["urls"], builder.Configuration["ASPNETCORE_URLS"] }.FirstOrDefault(u => !string.IsNullOrEmpty(u));
        // Gan:Dashboard: Orleans' dashboard on its own address (loopback by default), served by this web host too.
        var dashboard = GanDashboard.Address(builder.Configuration);
        if (dashboard is not null) builder.WebHost.UseUrls(GanDashboard.WithDashboard(urls ?? DefaultUrl, dashboard));
        else if (urls is null) builder.WebHost.UseUrls(DefaultUrl);
        builder.Services.AddSerilog((services, logger) => logger.ConfigureGanLogging(builder.Configuration));
        builder.UseOrleans(silo => silo.UseGanClustering(builder.Configuration).AddGanCluster(builder.Configuration));
        if (dashboard is not null) builder.UseOrleans(silo => silo.AddGanDashboard());
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(GanMetrics.MeterName, "Microsoft.Orleans")
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        builder.Services.AddHealthChecks();
        // Gan:Cluster:Kubernetes=true: Orleans' Kubernetes hosting (it post-configures the endpoints the clustering set).
        builder.UseOrleans(silo => silo.UseGanKubernetesHosting(builder.Configuration));
        return builder;
    }

    public static WebApplication MapGanEndpoints(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        app.MapHealthChecks("/health");
        if (GanDashboard.Address(app.Configuration) is { } dashboard) app.MapGanDashboard(dashboard);
        return app;
    }

    /// <summary>Human-readable console by default; compact JSON with Gan:Logging:Format=json; levels from Serilog:MinimumLevel.</summary>
    public static LoggerConfiguration ConfigureGanLogging(this LoggerConfiguration logger, IConfiguration configuration)
    {
        logger.ReadFrom.Configuration(configuration)
            .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("Orleans", Serilog.Events.LogEventLevel.Warning)
            .Enrich.FromLogContext();
        // Every line passes through RedactingSink: no password or connection-string secret reaches the log.
        var secrets = SecretRedaction.SecretsIn(configuration);
        logger.WriteTo.Sink(Serilog.Configuration.LoggerSinkConfiguration.Wrap(sink => new Logging.RedactingSink(sink, secrets), console =>
        {
            if (string.Equals(configuration["Gan:Logging:Format"], "json", StringComparison.OrdinalIgnoreCase))
                console.Console(new CompactJsonFormatter());
            else
                console.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj} {Properties:j}{NewLine}{Exception}");
        }));
        return logger;
    }
}
