using System.Collections.Concurrent;
using GanCluster.Contracts.Members;

namespace GanCluster.Grains.Members;

/// <summary>The members whose coordinator loop runs on this silo.</summary>
public sealed class LocalMembers
{
    private readonly ConcurrentDictionary<string, byte> ids = new();
    public void Add(string memberId) => ids[memberId] = 0;
    public void Remove(string memberId) => ids.TryRemove(memberId, out _);
    public IReadOnlyCollection<string> Ids => ids.Keys.ToArray();
}
