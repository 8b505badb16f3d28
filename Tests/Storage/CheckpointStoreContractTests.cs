using System.Security.Cryptography;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Storage;
using GanCluster.Tests.Support;
using StackExchange.Redis;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Storage;

/// <summary>
/// What every <see cref="ICheckpointStore"/> must do, run against the file store (embedded default) and the Redis
/// store (cluster mode) alike: parts read back verified, torn and corrupt parts refused, newest complete checkpoints
/// first, pruning and rewinding, member records.
/// </summary>
public abstract class CheckpointStoreContract : IAsyncLifetime
{
    protected ICheckpointStore Store { get; set; } = null!;

    public abstract Task InitializeAsync();
    public abstract Task DisposeAsync();

    /// <summary>Flips one byte of a stored part, as a bad disk or a bad copy would.</summary>
    protected abstract Task CorruptAsync(CheckpointFile file);
    /// <summary>Cuts a stored part short, as a write interrupted by a crash would leave it.</summary>
    protected abstract Task TruncateAsync(CheckpointFile file);
    /// <summary>Stores a manifest for <paramref name="step"/> that does not parse.</summary>
    protected abstract Task WriteGarbageManifestAsync(string memberId, long step);

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<CheckpointManifest> CheckpointAsync(string member, long step, int length = 3000)
    {
        var g = await Store.WritePartAsync(member, step, "generator", Bytes(length, (int)step));
        var d = await Store.WritePartAsync(member, step, "discriminator", Bytes(length / 2, (int)step + 1));
        var manifest = new CheckpointManifest(member, step, g, d, DateTimeOffset.UtcNow);
        await Store.WriteManifestAsync(manifest);
        return manifest;
    }

    [Fact]
    public async Task A_part_reads_back_byte_for_byte_with_its_length_and_SHA256()
    {
        var bytes = Bytes(10_000, 1);
        var file = await Store.WritePartAsync("m1", 100, "generator", bytes);
        Assert.Equal(100, file.Step);
        Assert.Equal(10_000, file.Bytes);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(bytes)), file.Sha256);
        Assert.Equal(bytes, await Store.ReadPartAsync(file));
        var empty = await Store.WritePartAsync("m1", 100, "empty", []);
        Assert.Empty(await Store.ReadPartAsync(empty));
    }

    [Fact]
    public async Task A_corrupt_part_is_refused_by_its_SHA256()
    {
        var file = await Store.WritePartAsync("m2", 5, "generator", Bytes(10_000, 2));
        await CorruptAsync(file);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(file));
        Assert.Contains("SHA-256", e.Message);
    }

    [Fact]
    public async Task A_torn_part_is_refused_by_its_length()
    {
        var file = await Store.WritePartAsync("m3", 5, "generator", Bytes(10_000, 3));
        await TruncateAsync(file);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(file));
        Assert.Contains("torn", e.Message);
    }

    [Fact]
    public async Task A_missing_part_is_refused()
    {
        var file = await Store.WritePartAsync("m4", 5, "generator", Bytes(100, 4));
        var gone = file with { Path = file.Path.Replace("generator", "nothing", StringComparison.Ordinal) };
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(gone));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public async Task Manifests_list_newest_first_and_one_that_does_not_parse_is_skipped()
    {
        await CheckpointAsync("m5", 100);
        await CheckpointAsync("m5", 300);
        await CheckpointAsync("m5", 200);
        await WriteGarbageManifestAsync("m5", 400);
        // Parts without a manifest (a crash between the parts and the manifest) are not a checkpoint.
        await Store.WritePartAsync("m5", 500, "generator", Bytes(10, 5));
        var manifests = await Store.ListManifestsAsync("m5");
        Assert.Equal([300L, 200, 100], manifests.Select(m => m.Step));
        Assert.Equal(Bytes(3000, 300), await Store.ReadPartAsync(manifests[0].Generator));
        Assert.Empty(await Store.ListManifestsAsync("never-written"));
    }

    [Fact]
    public async Task Pruning_keeps_the_newest_complete_checkpoints_and_removes_older_parts_and_crash_leftovers()
    {
        var old = await CheckpointAsync("m6", 100);
        var leftover = await Store.WritePartAsync("m6", 150, "generator", Bytes(10, 6));
        await CheckpointAsync("m6", 200);
        await CheckpointAsync("m6", 300);
        await Store.PruneAsync("m6", keep: 2);
        Assert.Equal([300L, 200], (await Store.ListManifestsAsync("m6")).Select(m => m.Step));
        await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(old.Generator));
        await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(leftover));
    }

    [Fact]
    public async Task Deleting_after_a_step_rewinds_to_it()
    {
        await CheckpointAsync("m7", 100);
        var kept = await CheckpointAsync("m7", 200);
        var dropped = await CheckpointAsync("m7", 300);
        await Store.DeleteAfterAsync("m7", 200);
        Assert.Equal([200L, 100], (await Store.ListManifestsAsync("m7")).Select(m => m.Step));
        Assert.NotEmpty(await Store.ReadPartAsync(kept.Discriminator));
        await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(dropped.Generator));
    }

    [Fact]
    public async Task Member_records_keep_the_latest_state_of_each_member()
    {
        await Store.WriteMemberRecordAsync(new MemberRecord("r1", MemberState.Running, DateTimeOffset.UtcNow));
        await Store.WriteMemberRecordAsync(new MemberRecord("r2", MemberState.Running, DateTimeOffset.UtcNow));
        await Store.WriteMemberRecordAsync(new MemberRecord("r1", MemberState.Completed, DateTimeOffset.UtcNow));
        var records = (await Store.ListMemberRecordsAsync()).ToDictionary(r => r.MemberId, r => r.State);
        Assert.Equal(MemberState.Completed, records["r1"]);
        Assert.Equal(MemberState.Running, records["r2"]);
    }

    [Fact]
    public async Task Names_that_could_escape_the_store_are_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.WritePartAsync("../x", 1, "generator", [1]));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.WritePartAsync("m8", 1, "a/b", [1]));
    }
}

public sealed class FileCheckpointStoreTests : CheckpointStoreContract
{
    private readonly TempDirectory directory = new();

    public override Task InitializeAsync()
    {
        Store = new FileCheckpointStore(directory.Path);
        return Task.CompletedTask;
    }

    public override Task DisposeAsync()
    {
        directory.Dispose();
        return Task.CompletedTask;
    }

    protected override async Task CorruptAsync(CheckpointFile file)
    {
        var bytes = await File.ReadAllBytesAsync(file.Path);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(file.Path, bytes);
    }

    protected override async Task TruncateAsync(CheckpointFile file)
    {
        var bytes = await File.ReadAllBytesAsync(file.Path);
        await File.WriteAllBytesAsync(file.Path, bytes[..(bytes.Length / 2)]);
    }

    protected override Task WriteGarbageManifestAsync(string memberId, long step)
    {
        string dir = Path.Combine(directory.Path, "members", memberId, "checkpoints", $"step-{step:D10}");
        Directory.CreateDirectory(dir);
        return File.WriteAllTextAsync(Path.Combine(dir, "manifest.json"), "{ not json");
    }
}

/// <summary>The same contract against a real redis-server, with 1 KiB chunks so that every part spans several.</summary>
public sealed class RedisCheckpointStoreTests : CheckpointStoreContract
{
    private const string Prefix = "test/checkpoints";
    private RedisServer redis = null!;
    private ConnectionMultiplexer connection = null!;

    public override async Task InitializeAsync()
    {
        redis = await RedisServer.StartAsync();
        connection = await ConnectionMultiplexer.ConnectAsync(redis.Address);
        Store = new RedisCheckpointStore(ConfigurationOptions.Parse(redis.Address), Prefix, chunkBytes: 1024);
    }

    public override async Task DisposeAsync()
    {
        await ((RedisCheckpointStore)Store).DisposeAsync();
        await connection.DisposeAsync();
        await redis.DisposeAsync();
    }

    private static string Key(CheckpointFile file) => file.Path[RedisCheckpointStore.PathScheme.Length..];

    protected override async Task CorruptAsync(CheckpointFile file)
    {
        var db = connection.GetDatabase();
        var chunk = (byte[])(await db.ListGetByIndexAsync(Key(file), 3))!;
        chunk[10] ^= 0xFF;
        await db.ListSetByIndexAsync(Key(file), 3, chunk);
    }

    protected override async Task TruncateAsync(CheckpointFile file) =>
        await connection.GetDatabase().ListTrimAsync(Key(file), 0, 4);

    protected override async Task WriteGarbageManifestAsync(string memberId, long step) =>
        await connection.GetDatabase().HashSetAsync($"{Prefix}/{memberId}/manifests", step.ToString("D10"), "{ not json");

    [Fact]
    public async Task A_large_part_is_stored_in_chunks_no_larger_than_the_chunk_size()
    {
        var file = await Store.WritePartAsync("big", 1, "generator", new byte[10 * 1024 + 1]);
        var chunks = await connection.GetDatabase().ListRangeAsync(Key(file));
        Assert.Equal(11, chunks.Length);
        Assert.All(chunks, c => Assert.True(((byte[])c!).Length <= 1024));
    }

    [Fact]
    public async Task A_manifest_whose_parts_are_not_all_written_is_refused()
    {
        var g = await Store.WritePartAsync("half", 10, "generator", [1, 2, 3]);
        var missing = g with { Path = g.Path.Replace("generator", "discriminator", StringComparison.Ordinal) };
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.WriteManifestAsync(new CheckpointManifest("half", 10, g, missing, DateTimeOffset.UtcNow)));
        Assert.Contains("not in the store", e.Message);
        Assert.Empty(await Store.ListManifestsAsync("half"));
    }

    [Fact]
    public async Task A_part_of_another_store_is_refused_with_its_path()
    {
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(new CheckpointFile("/data/members/x/generator.bin", 1, 1, "00")));
        Assert.Contains("/data/members/x/generator.bin", e.Message);
    }
}
