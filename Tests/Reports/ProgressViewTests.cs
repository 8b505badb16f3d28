using GanCluster.Client.Cli;
using GanCluster.Contracts.Members;

namespace GanCluster.Tests.Reports;

/// <summary>The run's progress line.</summary>
public class ProgressViewTests
{
    private static MemberStatus Running(string? activity) => new()
    {
        MemberId = "m", State = MemberState.Running, Step = 100, TotalSteps = 200, StepsPerSecond = 42, Activity = activity,
    };

    [Fact]
    public void A_running_member_shows_its_speed_or_what_it_is_doing_between_steps()
    {
        Assert.Contains("| 42 steps/s", ProgressView.Format(Running(null)));
        string evaluating = ProgressView.Format(Running("evaluating: training the digit classifier first"));
        Assert.Contains("| evaluating: training the digit classifier first…", evaluating);
        Assert.DoesNotContain("steps/s", evaluating);
        Assert.StartsWith("[##########----------] 100/200", evaluating);
    }
}
