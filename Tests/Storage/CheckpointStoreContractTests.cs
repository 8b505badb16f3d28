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
        string path = Store.Locate(file);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes);
    }

    protected override async Task TruncateAsync(CheckpointFile file)
    {
        string path = Store.Locate(file);
        var bytes = await File.ReadAllBytesAsync(path);
        await File.WriteAllBytesAsync(path, bytes[..(bytes.Length / 2)]);
    }

    protected override Task WriteGarbageManifestAsync(string memberId, long step)
    {
        string dir = Path.Combine(directory.Path, "members", memberId, "checkpoints", $"step-{step:D10}");
        Directory.CreateDirectory(dir);
        return File.WriteAllTextAsync(Path.Combine(dir, "manifest.json"), "{ not json");
    }

    private static async Task<CheckpointManifest> CheckpointAsync(ICheckpointStore store, string member, long step)
    {
        var g = await store.WritePartAsync(member, step, "generator", [1, 2, 3, (byte)step]);
        var d = await store.WritePartAsync(member, step, "discriminator", [4, 5, (byte)step]);
        var manifest = new CheckpointManifest(member, step, g, d, DateTimeOffset.UtcNow);
        await store.WriteManifestAsync(manifest);
        return manifest;
    }

    [Fact]
    public async Task Parts_are_named_relative_to_the_data_directory_so_a_moved_directory_keeps_its_checkpoints()
    {
        var written = await CheckpointAsync(Store, "moved", 100);
        Assert.False(Path.IsPathRooted(written.Generator.Path), written.Generator.Path);
        Assert.StartsWith("members/moved/checkpoints/step-0000000100/generator-", written.Generator.Path, StringComparison.Ordinal);
        string manifestText = await File.ReadAllTextAsync(Path.Combine(directory.Path, "members", "moved", "checkpoints", "step-0000000100", "manifest.json"));
        Assert.DoesNotContain(directory.Path, manifestText, StringComparison.Ordinal);

        using var elsewhere = new TempDirectory();
        string moved = Path.Combine(elsewhere.Path, "data");
        Directory.Move(directory.Path, moved);
        try
        {
            var store = new FileCheckpointStore(moved);
            var manifest = Assert.Single(await store.ListManifestsAsync("moved"));
            Assert.Equal(new byte[] { 1, 2, 3, 100 }, await store.ReadPartAsync(manifest.Generator));
            Assert.Equal(new byte[] { 4, 5, 100 }, await store.ReadPartAsync(manifest.Discriminator));
            Assert.Equal(Path.Combine(moved, written.Generator.Path), store.Locate(manifest.Generator));
        }
        finally { Directory.Move(moved, directory.Path); }
    }

    [Fact]
    public async Task A_manifest_with_absolute_paths_from_before_is_read_where_they_point_or_else_under_the_current_root()
    {
        // A manifest as the store wrote it before paths were relative: absolute paths under the old data directory.
        var written = await CheckpointAsync(Store, "legacy", 200);
        var absolute = written with
        {
            Generator = written.Generator with { Path = Path.Combine(directory.Path, written.Generator.Path) },
            Discriminator = written.Discriminator with { Path = Path.Combine(directory.Path, written.Discriminator.Path) },
        };
        await Store.WriteManifestAsync(absolute);
        Assert.Equal(new byte[] { 1, 2, 3, 200 }, await Store.ReadPartAsync(Assert.Single(await Store.ListManifestsAsync("legacy")).Generator));

        using var elsewhere = new TempDirectory();
        string moved = Path.Combine(elsewhere.Path, "restored");
        Directory.Move(directory.Path, moved);
        try
        {
            var store = new FileCheckpointStore(moved);
            var manifest = Assert.Single(await store.ListManifestsAsync("legacy"));
            Assert.Equal(absolute.Generator.Path, manifest.Generator.Path); // the old path, which no longer exists
            Assert.False(File.Exists(manifest.Generator.Path));
            Assert.Equal(new byte[] { 1, 2, 3, 200 }, await store.ReadPartAsync(manifest.Generator));
            Assert.Equal(new byte[] { 4, 5, 200 }, await store.ReadPartAsync(manifest.Discriminator));
            Assert.Equal(Path.Combine(moved, written.Generator.Path), store.Locate(manifest.Generator));
        }
        finally { Directory.Move(moved, directory.Path); }
    }

    [Fact]
    public async Task A_relative_path_that_leaves_the_data_directory_is_refused()
    {
        var file = await Store.WritePartAsync("escape", 1, "generator", [1]);
        var outside = file with { Path = "members/../../outside.bin" };
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Store.ReadPartAsync(outside));
        Assert.Contains("outside the checkpoint store", e.Message);
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
