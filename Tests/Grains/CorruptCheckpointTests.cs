using GanCluster.Contracts.Members;
using GanCluster.Gan.Training;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;

namespace GanCluster.Tests.Grains;

/// <summary>A corrupt newest checkpoint is detected on resume, logged, and the previous one is used.</summary>
[Collection(ClusterCollection.Name)]
public class CorruptCheckpointTests(ClusterFixture fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task A_member_whose_newest_checkpoint_is_corrupt_resumes_from_the_previous_one_and_ends_with_the_same_weights()
    {
        const string id = "corrupt-newest";
        // Long enough that the pause lands between the last two checkpoints however fast the machine trains.
        var spec = TestSpecs.SmallRing(steps: 4000) with { Checkpoint = new() { Every = 1000, Keep = 10 } };
        var member = fixture.Client.GetGrain<ICoordinatorGrain>(id);
        await member.StartAsync(spec);
        await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.Step >= 2500 || s.State.IsFinished(), Timeout, "step 2500");
        var paused = await member.PauseAsync();
        Assert.Equal(MemberState.Paused, paused.State);
        Assert.True(paused.Step > 2000 && paused.Step < 4000, $"paused at {paused.Step}");

        var store = new FileCheckpointStore(fixture.DataDirectory);
        var listed = await store.ListManifestsAsync(id);
        var newest = listed[0];
        Assert.Equal(paused.Step, newest.Step);
        var bytes = await File.ReadAllBytesAsync(store.Locate(newest.Generator));
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(store.Locate(newest.Generator), bytes);

        // The workers lose their networks, so resuming must read the (corrupt) checkpoint back.
        await fixture.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        await Task.Delay(500);
        await member.ResumeAsync();
        var done = await Eventually.WaitAsync(() => member.GetStatusAsync().AsTask(), s => s.State.IsFinished(), Timeout, "the member to finish");
        Assert.Equal(MemberState.Completed, done.State);
        Assert.Equal(4000, done.Step);
        // The status says which checkpoint it resumed from, and which it skipped and why.
        Assert.Equal(listed[1].Step, done.ResumedFromStep);
        var skipped = Assert.Single(done.SkippedCheckpoints);
        Assert.Equal(paused.Step, skipped.Step);
        Assert.Contains("fails its SHA-256 check (corrupt)", skipped.Reason);
        Assert.StartsWith($"{id} resumed from its checkpoint at step {listed[1].Step}, skipping 1 unusable (step {paused.Step}: checkpoint file ", done.ResumeNote());

        string log = fixture.LogTail(4000).Replace("\"", "", StringComparison.Ordinal);
        Assert.Contains($"Member {id}: checkpoint at step {paused.Step} is unusable", log);
        Assert.Contains("fails its SHA-256 check (corrupt)", log);
        // Replayed from step 2000, deterministically: the end is where an uninterrupted run ends.
        using var reference = new ReferenceLoop(spec);
        reference.Run(4000);
        var final = (await store.ListManifestsAsync(id))[0];
        Assert.Equal(4000, final.Step);
        using var g = new GeneratorModel(spec, GanCluster.Gan.Data.RealData.FromSpec(spec.Data), TorchSharp.torch.CPU);
        using (var reader = new BinaryReader(File.OpenRead(store.Locate(final.Generator)))) g.Load(reader);
        Assert.Equal(reference.Generator.WeightBytes(), g.WeightBytes());
    }
}
