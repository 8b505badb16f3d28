namespace GanCluster.Client.Hosting;

/// <summary>
/// Grain calls from a command that outlive a silo's death. A call that fails because its gateway or the silo of its
/// grain went away (the grain is activated again elsewhere once the cluster notices) is tried again, through another
/// gateway when the client has one, until it answers or the cluster has been unreachable for <see cref="Patience"/>.
/// Errors that are the cluster's answer (an unknown id, a refused spec) are not retried.
/// </summary>
public static class ClusterCalls
{
    /// <summary>How long a command keeps trying before it reports the cluster unreachable (exit 3).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>True for a failure of the way to the cluster (connection, gateway, dead silo, time-out), not of the call.</summary>
    public static bool IsTransient(Exception e) => e is TimeoutException or OrleansException;

    /// <summary>
    /// <paramref name="call"/>, tried again while the failure is transient; <paramref name="say"/> hears one line when
    /// contact is lost and one when it is back. Cancelling <paramref name="cancel"/> stops the waiting at once.
    /// </summary>
    public static async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancel, Action<string>? say = null, TimeSpan? patience = null)
    {
        DateTime? lostSince = null;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                var result = await call();
                if (lostSince is not null) say?.Invoke($"cluster reached again after {(DateTime.UtcNow - lostSince.Value).TotalSeconds:F0} s");
                return result;
            }
            catch (Exception e) when (IsTransient(e))
            {
                var now = DateTime.UtcNow;
                if (lostSince is null)
                {
                    lostSince = now;
                    say?.Invoke($"lost contact with the cluster ({FirstLine(e.Message)}); trying again through the other gateways…");
                }
                if (now - lostSince.Value > (patience ?? Patience))
                    throw new ClusterUnreachableException($"the cluster has not answered for {(now - lostSince.Value).TotalSeconds:F0} s: {FirstLine(e.Message)}", e);
                await Task.Delay(delay, cancel);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    /// <summary><see cref="CallAsync{T}"/> for a call without a result.</summary>
    public static Task CallAsync(Func<Task> call, CancellationToken cancel, Action<string>? say = null, TimeSpan? patience = null) =>
        CallAsync(async () => { await call(); return true; }, cancel, say, patience);

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
