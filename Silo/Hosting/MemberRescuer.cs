using GanCluster.Contracts.Members;
using GanCluster.Contracts.Sweeps;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using GanCluster.Grains;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Cluster mode: a grain re-activates on a live silo only when something calls it. When membership declares a silo
/// dead (killed, or stopped after its members checkpointed), this wakes every member that was training — its
/// coordinator re-activates and resumes from its last checkpoint — and every sweep, so that nothing waits for a
/// client to look. Calls to grains that are alive are plain status calls.
/// </summary>
internal sealed class MemberRescuer(
    IClusterMembershipService membership,
    ICheckpointStore store,
    IGrainFactory grains,
    IOptions<GanClusterOptions> cluster,
    IOptions<EndpointOptions> endpoints,
    ILogger<MemberRescuer> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource stopping = new();
    private Task? watching;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MemberRescuer), ServiceLifecycleStage.Active, OnActiveAsync, OnStoppingAsync);

    private Task OnActiveAsync(CancellationToken cancellationToken)
    {
        var c = cluster.Value;
        var e = endpoints.Value;
        ClusterLog.ClusterMode(logger, RedisHosting.DescribeRedis(RedisHosting.ParseRedis(c.Redis)), e.AdvertisedIPAddress?.ToString() ?? "?",
            e.SiloPort, e.GatewayPort, c.ProbeTimeout, c.MissedProbesLimit, c.ResponseTimeout);
        watching = Task.Run(() => WatchAsync(stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task OnStoppingAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        if (watching is not null)
        {
            try { await watching.WaitAsync(cancellationToken); }
            catch (OperationCanceledException) { }
        }
    }

    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        var dead = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress).ToHashSet();
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                var newlyDead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress)).ToList();
                if (newlyDead.Count == 0) continue;
                await WakeAsync(string.Join(", ", newlyDead.Select(m => m.SiloAddress.ToString())), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    private async Task WakeAsync(string silos, CancellationToken cancellationToken)
    {
        IReadOnlyList<MemberRecord> records;
        try { records = await store.ListMemberRecordsAsync(); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ClusterLog.WakeFailed(logger, "members", "(all)", e.Message);
            return;
        }
        var training = records.Where(r => r.State == MemberState.Running).Select(r => r.MemberId).ToList();
        ClusterLog.SiloDeclaredDead(logger, silos, training.Count);
        var wakes = training.Select(id => WakeOneAsync("member", id, () => grains.GetGrain<ICoordinatorGrain>(id).GetStatusAsync().AsTask(), cancellationToken)).ToList();
        try
        {
            foreach (var id in await grains.GetGrain<ISweepIndexGrain>(0).ListAsync().AsTask().WaitAsync(CallTimeout, cancellationToken))
                wakes.Add(WakeOneAsync("sweep", id, () => grains.GetGrain<ISweepGrain>(id).GetStatusAsync().AsTask(), cancellationToken));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ClusterLog.WakeFailed(logger, "sweep index", "0", e.Message);
        }
        await Task.WhenAll(wakes);
    }

    private async Task WakeOneAsync<T>(string kind, string id, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await call().WaitAsync(CallTimeout, cancellationToken);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A cached route to the dead silo fails once; the next call goes through the updated directory.
                if (attempt >= 3) { ClusterLog.WakeFailed(logger, kind, id, e.Message); return; }
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        }
    }
}
