using GanCluster.Contracts.Members;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Grains;

/// <summary>
/// Where a member resumes from when its checkpoints moved or went bad: a moved data folder keeps its checkpoints, and a
/// member that can use none of its checkpoints fails naming them, or restarts from step 0 only when its spec says so.
/// </summary>
[Collection(ClusterCollection.Name)]
public class CheckpointResumeTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private static GanSpec LongRing(bool restartIfUnusable = false) => TestSpecs.SmallRing(steps: 1_000_000) with
    {
        Checkpoint = new() { Every = 100, Keep = 2, RestartIfUnusable = restartIfUnusable },
        Evaluation = new() { Every = 1_000_000, Samples = 500, MinSamplesPerMode = 5 },
    };

    [Fact]
    public async Task A_member_whose_data_folder_was_moved_after_checkpointing_resumes_from_its_checkpoint_not_from_step_0()
    {
        using var temp = new TempDirectory();
        string before = Path.Combine(temp.Path, "before"), after = Path.Combine(temp.Path, "after");
        const string id = "moved-data";
        var first = await ClusterFixture.DeployAsync(before);
        try
        {
            var member = first.Client.GetGrain<ICoordinatorGrain>(id);
            await member.StartAsync(LongRing());
            await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.CheckpointStep >= 200 || s.State.IsFinished(), Timeout, "two checkpoints");
        }
        finally
        {
            // The silo stops as an operator's would: the member checkpoints where it is and stays "running".
            await first.StopAllSilosAsync();
            await first.DisposeAsync();
        }
        var atStop = (await new FileCheckpointStore(before).ListManifestsAsync(id))[0];
        Assert.True(atStop.Step >= 200, $"newest checkpoint at step {atStop.Step}");

        Directory.Move(before, after);
        var second = await ClusterFixture.DeployAsync(after);
        try
        {
            // The new silo wakes the member (MemberResumer); it must find its checkpoint under the new path.
            var member = second.Client.GetGrain<ICoordinatorGrain>(id);
            var resumed = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(),
                s => s.ResumedFromStep is not null || s.SkippedCheckpoints.Count > 0 || s.State.IsFinished(), Timeout, "the member to resume");
            Assert.True(resumed.State == MemberState.Running, $"{resumed.State}: {resumed.Error}\n{TestSiloLog.Tail(after, 40)}");
            Assert.Equal(atStop.Step, resumed.ResumedFromStep);
            Assert.Empty(resumed.SkippedCheckpoints);
            Assert.False(resumed.RestartedFromScratch);
            Assert.True(resumed.Step >= atStop.Step, $"at step {resumed.Step} after resuming from {atStop.Step}");
            Assert.Equal($"{id} resumed from its checkpoint at step {atStop.Step}", resumed.ResumeNote());
            await member.CancelAsync();
        }
        finally
        {
            await second.StopAllSilosAsync();
            await second.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_member_that_can_use_none_of_its_checkpoints_fails_naming_them_or_restarts_from_step_0_when_its_spec_says_so(bool restartIfUnusable)
    {
        string id = restartIfUnusable ? "unusable-restarts" : "unusable-fails";
        var member = fixture.Client.GetGrain<ICoordinatorGrain>(id);
        await member.StartAsync(LongRing(restartIfUnusable));
        await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.CheckpointStep >= 200 || s.State.IsFinished(), Timeout, "two checkpoints");
        var paused = await member.PauseAsync();
        Assert.Equal(MemberState.Paused, paused.State);
        await member.SuspendAsync(); // deactivates: the resume must read the checkpoint files

        var store = new FileCheckpointStore(fixture.DataDirectory);
        var listed = await store.ListManifestsAsync(id);
        Assert.Equal(2, listed.Count);
        Assert.Equal(paused.Step, listed[0].Step);
        foreach (var manifest in listed)
        {
            string path = store.Locate(manifest.Generator);
            var bytes = await File.ReadAllBytesAsync(path);
            bytes[bytes.Length / 2] ^= 0xFF;
            await File.WriteAllBytesAsync(path, bytes);
        }

        await member.ResumeAsync();
        var skippedSteps = listed.Select(m => m.Step).ToArray();
        if (!restartIfUnusable)
        {
            var failed = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to fail");
            Assert.Equal(MemberState.Failed, failed.State);
            Assert.NotNull(failed.Error);
            Assert.StartsWith($"member {id} cannot resume: no checkpoint is usable (step {listed[0].Step}: checkpoint file {store.Locate(listed[0].Generator)} fails its SHA-256 check (corrupt); step {listed[1].Step}: ", failed.Error);
            Assert.Contains("restartIfUnusable", failed.Error);
            Assert.Equal(skippedSteps, failed.SkippedCheckpoints.Select(k => k.Step));
            Assert.All(failed.SkippedCheckpoints, k => Assert.Contains("fails its SHA-256 check (corrupt)", k.Reason));
            Assert.Null(failed.ResumedFromStep);
            Assert.False(failed.RestartedFromScratch);
            Assert.StartsWith($"{id} could not resume: no checkpoint was usable (step {listed[0].Step}: ", failed.ResumeNote());
            // Nothing was trained over them: the checkpoints are still there, as they were.
            Assert.Equal(skippedSteps, (await store.ListManifestsAsync(id)).Select(m => m.Step));
            Assert.Contains($"Member {id} failed: member {id} cannot resume", fixture.LogTail(400).Replace("\"", "", StringComparison.Ordinal));
        }
        else
        {
            var restarted = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(),
                s => (s.RestartedFromScratch && s.Step >= 20) || s.State.IsFinished(), Timeout, "the member to restart and train");
            Assert.True(restarted.State == MemberState.Running, $"{restarted.State}: {restarted.Error}");
            Assert.True(restarted.RestartedFromScratch);
            Assert.Equal(0, restarted.ResumedFromStep);
            Assert.Equal(skippedSteps, restarted.SkippedCheckpoints.Select(k => k.Step));
            Assert.StartsWith($"{id} restarted from step 0: no checkpoint was usable (step {listed[0].Step}: ", restarted.ResumeNote());
            Assert.Contains($"Member {id}: no checkpoint is usable", fixture.LogTail(400).Replace("\"", "", StringComparison.Ordinal));
            await member.CancelAsync();
            // The unusable checkpoints are gone; what is listed now was written since the restart and reads back.
            foreach (var manifest in await store.ListManifestsAsync(id))
            {
                Assert.NotEmpty(await store.ReadPartAsync(manifest.Generator));
                Assert.NotEmpty(await store.ReadPartAsync(manifest.Discriminator));
            }
        }
    }
}
