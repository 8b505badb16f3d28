using Orleans.Hosting;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Orleans' Kubernetes hosting (Microsoft.Orleans.Hosting.Kubernetes) behind Gan:Cluster:Kubernetes=true: the silo takes
/// its name, namespace and advertised address from the pod (POD_NAME, POD_NAMESPACE, POD_IP, set by the manifest from
/// the downward API), its ids from ORLEANS_CLUSTER_ID / ORLEANS_SERVICE_ID, and watches the silo pods, deleting the pod
/// of a silo that the cluster declared dead. Membership itself stays in Redis (Gan:Cluster:Redis). See deploy/k8s/.
/// </summary>
public static class KubernetesHosting
{
    public const string Key = "Gan:Cluster:Kubernetes";

    public static ISiloBuilder UseGanKubernetesHosting(this ISiloBuilder silo, IConfiguration configuration)
    {
        string? value = configuration[Key];
        if (string.IsNullOrWhiteSpace(value)) return silo;
        if (!bool.TryParse(value, out bool enabled))
            throw new Microsoft.Extensions.Options.OptionsValidationException(Key, typeof(bool), [$"{Key} must be true or false, got '{value}'"]);
        return enabled ? silo.UseKubernetesHosting() : silo;
    }
}
