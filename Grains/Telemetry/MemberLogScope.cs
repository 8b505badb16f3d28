using System.Collections;
using Microsoft.Extensions.Logging;

namespace GanCluster.Grains.Telemetry;

/// <summary>
/// Logger scope state that puts SweepId, Population, MemberId and Step on every log line written inside it (Serilog
/// turns scope dictionaries into properties; a message's own property of the same name wins). The step is read when
/// a line is written, so a scope opened around a member's training loop reports the live step.
/// </summary>
public sealed class MemberLogScope(MemberLabels labels, Func<long> step) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public int Count => 4;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("SweepId", labels.Sweep),
        1 => new("Population", labels.Population),
        2 => new("MemberId", labels.Member),
        3 => new("Step", step()),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (int i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"sweep {labels.Sweep} population {labels.Population} member {labels.Member} step {step()}";

    /// <summary>Opens the scope on <paramref name="logger"/>; dispose to close it.</summary>
    public static IDisposable? Begin(ILogger logger, MemberLabels labels, Func<long> step) => logger.BeginScope(new MemberLogScope(labels, step));
}
