using GanCluster.Contracts.Members;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Telemetry;
using Microsoft.Extensions.Logging;

namespace GanCluster.Grains.Members;

/// <summary>
/// When a silo becomes active, wakes the coordinators of members that were training when the cluster last stopped;
/// each resumes from its last checkpoint on activation.
/// </summary>
internal sealed class MemberResumer(ICheckpointStore store, IGrainFactory grains, ILogger<MemberResumer> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MemberResumer), ServiceLifecycleStage.Active, OnActiveAsync, _ => Task.CompletedTask);

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
}
