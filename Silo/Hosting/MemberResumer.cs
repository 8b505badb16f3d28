using GanCluster.Contracts.Members;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.Logging;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Members across silo restarts. Start: wakes the coordinators of members that were training when the cluster last
/// stopped (each resumes from its last checkpoint on activation). Stop: before grains are torn down, asks this
/// silo's training members to checkpoint and stop, while their workers are still alive.
/// </summary>
internal sealed class MemberResumer(ICheckpointStore store, IGrainFactory grains, LocalMembers local, ILogger<MemberResumer> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MemberResumer), ServiceLifecycleStage.Active, OnActiveAsync, OnStoppingAsync);

    private Task OnActiveAsync(CancellationToken cancellationToken)
    {
        // Off the start-up path: a silo must not wait for every member to reload before it serves.
        _ = Task.Run(async () =>
        {
            foreach (var record in await store.ListMemberRecordsAsync())
            {
                if (record.State != MemberState.Running || cancellationToken.IsCancellationRequested) continue;
                try
                {
                    Log.ResumingMember(logger, record.MemberId);
                    await grains.GetGrain<ICoordinatorGrain>(record.MemberId).GetStatusAsync();
                }
                catch (Exception e)
                {
                    Log.MemberFailed(logger, e, record.MemberId, -1);
                }
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task OnStoppingAsync(CancellationToken cancellationToken)
    {
        var ids = local.Ids;
        if (ids.Count == 0) return;
        Log.SuspendingMembers(logger, ids.Count);
        var suspensions = ids.Select(async id =>
        {
            try { await grains.GetGrain<ICoordinatorGrain>(id).SuspendAsync().AsTask().WaitAsync(cancellationToken); }
            catch (Exception e) { Log.SuspendCheckpointFailed(logger, e, id, -1, -1); }
        });
        await Task.WhenAll(suspensions);
    }
}
