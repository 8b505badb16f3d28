using Orleans.Concurrency;

namespace GanCluster.Contracts.Members;

/// <summary>Live progress of a member, pushed by its coordinator (a few times a second at most).</summary>
[Alias("gan.IMemberObserver")]
public interface IMemberObserver : IGrainObserver
{
    [Alias("OnProgress"), OneWay] Task OnProgressAsync(MemberStatus status);
}
