using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Orleans.Dashboard;
using Orleans.Hosting;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Gan:Dashboard: Orleans' own dashboard (Microsoft.Orleans.Dashboard: silos, grains, calls) on an address of its own,
/// served by the silo's web host next to /metrics. Off by default; <c>on</c> serves it at <see cref="DefaultAddress"/>
/// (loopback, like /metrics); an <c>http://HOST:PORT</c> value serves it there. The dashboard answers only on that
/// port, so opening /metrics to Prometheus does not open the dashboard.
/// </summary>
public static class GanDashboard
{
    public const string Key = "Gan:Dashboard";
    public const string DefaultAddress = "http://127.0.0.1:8080";

    /// <summary>The dashboard's address, or null when it is off; a value that is not off, on or http://HOST:PORT is refused.</summary>
    public static BindingAddress? Address(IConfiguration configuration)
    {
        string value = (configuration[Key] ?? "").Trim();
        if (value.Length == 0 || Is(value, "off") || Is(value, "false")) return null;
        string address = Is(value, "on") || Is(value, "true") ? DefaultAddress : value;
        BindingAddress parsed;
        try { parsed = BindingAddress.Parse(address); }
        catch (FormatException) { throw Bad(value); }
        if (!Is(parsed.Scheme, "http") || parsed.IsUnixPipe || parsed.PathBase.Length > 0 || parsed.Port is < 1 or > 65535) throw Bad(value);
        return parsed;
    }

    /// <summary>
    /// The web host's addresses (<paramref name="urls"/>, --urls) with the dashboard's added, unless --urls already
    /// serves that very address (then the dashboard shares its listener). A port --urls holds on another host is refused.
    /// </summary>
    public static string WithDashboard(string urls, BindingAddress dashboard)
    {
        foreach (string entry in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try { address = BindingAddress.Parse(entry); }
            catch (FormatException) { continue; } // Kestrel reports a bad --urls itself
            if (address.Port != dashboard.Port) continue;
            if (Is(address.Host, dashboard.Host) && Is(address.Scheme, dashboard.Scheme)) return urls;
            throw new ArgumentException($"{Key}: port {dashboard.Port} is already taken by --urls {entry}; give the dashboard another port");
        }
        return $"{urls};{dashboard.Scheme}://{dashboard.Host}:{dashboard.Port}";
    }

    /// <summary>The dashboard's services: its grains, its grain-call profiler and its counters. The live log stream stays off (see below).</summary>
    public static ISiloBuilder AddGanDashboard(this ISiloBuilder silo) =>
        // HideTrace: the dashboard's log page streams what its own logger provider receives. The silo logs through
        // Serilog (AddSerilog, which does not write to other providers), so that page would stay empty; were it fed,
        // its lines would bypass the sink that redacts secrets. The logs are read from the console instead.
        silo.AddDashboard(options => options.HideTrace = true);

    /// <summary>The dashboard's pages and API at the root of its own port; requests that arrive on another port get 404.</summary>
    public static IEndpointConventionBuilder MapGanDashboard(this IEndpointRouteBuilder endpoints, BindingAddress dashboard)
    {
        int port = dashboard.Port;
        return endpoints.MapOrleansDashboard().AddEndpointFilter(async (context, next) =>
            context.HttpContext.Connection.LocalPort == port ? await next(context) : Results.NotFound());
    }

    private static bool Is(string value, string expected) => string.Equals(value, expected, StringComparison.OrdinalIgnoreCase);

    private static ArgumentException Bad(string value) =>
        new($"{Key} must be off, on or an http://HOST:PORT address (on = {DefaultAddress}), got '{value}'");
}
