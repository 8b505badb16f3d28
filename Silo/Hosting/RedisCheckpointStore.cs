using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using GanCluster.Contracts.Workers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

using GanCluster.Grains.Storage;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Checkpoints in Redis, shared by every silo of a cluster (Gan:Cluster:Redis), with the semantics of
/// <see cref="FileCheckpointStore"/>: a part is a list of chunks under a key of its own (a unique one per write), so
/// no value passes Redis' size limits and a torn write never overwrites a good one; a manifest is written only after
/// both of its parts are complete, and checked against them; every read is verified by length and SHA-256.
/// </summary>
/// <remarks>
/// Keys, under <c>{prefix}</c> = <c>{ServiceId}/checkpoints</c>:
/// <c>{prefix}/{member}/step-{step}/{part}-{guid}</c> (list of chunks), <c>{prefix}/{member}/parts</c> (sorted set of
/// part keys by step, written before the chunks so that pruning also removes the leftovers of a crash),
/// <c>{prefix}/{member}/manifests</c> (hash: step → manifest JSON), <c>{prefix}/members</c> (hash: member → record).
/// </remarks>
public sealed class RedisCheckpointStore : ICheckpointStore, IAsyncDisposable
{
    /// <summary>Chunk size of a part: far below Redis' 512 MB value limit and small enough to keep latency even.</summary>
    public const int DefaultChunkBytes = 4 << 20;
    public const string PathScheme = "redis:";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    private readonly ConfigurationOptions options;
    private readonly string prefix;
    private readonly int chunkBytes;
    private readonly ILogger logger;
    private readonly SemaphoreSlim connecting = new(1, 1);
    private ConnectionMultiplexer? connection;

    public RedisCheckpointStore(ConfigurationOptions options, string prefix, ILogger<RedisCheckpointStore>? logger = null, int chunkBytes = DefaultChunkBytes)
    {
        if (chunkBytes < 1) throw new ArgumentOutOfRangeException(nameof(chunkBytes), chunkBytes, "chunk size must be positive");
        this.options = options;
        this.prefix = prefix.TrimEnd('/');
        this.chunkBytes = chunkBytes;
        this.logger = logger ?? NullLogger<RedisCheckpointStore>.Instance;
    }

    private async Task<IDatabase> DbAsync()
    {
        if (connection is { } c) return c.GetDatabase();
        await connecting.WaitAsync();
        try
        {
            connection ??= await ConnectionMultiplexer.ConnectAsync(options);
            return connection.GetDatabase();
        }
        catch (RedisConnectionException e)
        {
            throw new IOException($"checkpoint store: cannot connect to Redis at {RedisHosting.DescribeRedis(options)}: {e.Message}", e);
        }
        finally { connecting.Release(); }
    }

    private string MemberKey(string memberId) => $"{prefix}/{FileCheckpointStore.SafeName(memberId)}";
    private string PartsKey(string memberId) => $"{MemberKey(memberId)}/parts";
    private string ManifestsKey(string memberId) => $"{MemberKey(memberId)}/manifests";
    private string RecordsKey => $"{prefix}/members";
    private static string StepField(long step) => step.ToString("D10", CultureInfo.InvariantCulture);

    public async Task<CheckpointFile> WritePartAsync(string memberId, long step, string part, byte[] bytes)
    {
        var db = await DbAsync();
        string key = $"{MemberKey(memberId)}/step-{StepField(step)}/{FileCheckpointStore.SafeName(part)}-{Guid.NewGuid():N}";
        await db.SortedSetAddAsync(PartsKey(memberId), key, step);
        // Pipelined on one connection: Redis applies the pushes in order; the part is complete when the last one is.
        var pushes = new List<Task>();
        int offset = 0;
        do
        {
            int n = Math.Min(chunkBytes, bytes.Length - offset);
            pushes.Add(db.ListRightPushAsync(key, bytes.AsSpan(offset, n).ToArray()));
            offset += n;
        } while (offset < bytes.Length);
        await Task.WhenAll(pushes);
        return new CheckpointFile(PathScheme + key, step, bytes.LongLength, Convert.ToHexString(SHA256.HashData(bytes)));
    }

    private string KeyOf(CheckpointFile file)
    {
        if (!file.Path.StartsWith(PathScheme, StringComparison.Ordinal) || !file.Path.AsSpan(PathScheme.Length).StartsWith(prefix + "/", StringComparison.Ordinal))
            throw new InvalidDataException($"checkpoint part {file.Path} is not in this Redis checkpoint store ({PathScheme}{prefix}/…)");
        return file.Path[PathScheme.Length..];
    }

    public async Task<byte[]> ReadPartAsync(CheckpointFile file)
    {
        string key = KeyOf(file);
        var db = await DbAsync();
        long chunks = await db.ListLengthAsync(key);
        if (chunks == 0) throw new InvalidDataException($"checkpoint part {file.Path} is missing");
        using var buffer = new MemoryStream();
        const int window = 8;
        for (long i = 0; i < chunks; i += window)
        {
            foreach (var chunk in await db.ListRangeAsync(key, i, Math.Min(i + window, chunks) - 1))
            {
                buffer.Write((byte[])chunk!);
                if (buffer.Length > file.Bytes) break;
            }
            if (buffer.Length > file.Bytes) break;
        }
        if (buffer.Length != file.Bytes)
            throw new InvalidDataException($"checkpoint part {file.Path} has {buffer.Length} bytes, expected {file.Bytes} (torn write?)");
        var bytes = buffer.ToArray();
        if (!string.Equals(Convert.ToHexString(SHA256.HashData(bytes)), file.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"checkpoint part {file.Path} fails its SHA-256 check (corrupt)");
        return bytes;
    }

    /// <summary>A part's path is already its place in the store (its Redis key): nothing on disk to move.</summary>
    public string Locate(CheckpointFile file) => file.Path;

    public async Task WriteManifestAsync(CheckpointManifest manifest)
    {
        var db = await DbAsync();
        // A manifest names complete parts only: refuse one whose parts are not all there.
        foreach (var part in new[] { manifest.Generator, manifest.Discriminator })
        {
            if (!await db.KeyExistsAsync(KeyOf(part)))
                throw new InvalidDataException($"manifest of {manifest.MemberId} at step {manifest.Step} names part {part.Path}, which is not in the store");
        }
        await db.HashSetAsync(ManifestsKey(manifest.MemberId), StepField(manifest.Step), JsonSerializer.SerializeToUtf8Bytes(manifest, Json));
    }

    public async Task<IReadOnlyList<CheckpointManifest>> ListManifestsAsync(string memberId)
    {
        var db = await DbAsync();
        var manifests = new List<CheckpointManifest>();
        foreach (var entry in (await db.HashGetAllAsync(ManifestsKey(memberId))).OrderByDescending(e => (string)e.Name!, StringComparer.Ordinal))
        {
            try
            {
                var manifest = JsonSerializer.Deserialize<CheckpointManifest>((byte[])entry.Value!, Json);
                if (manifest is not null) manifests.Add(manifest);
            }
            catch (JsonException e)
            {
                RedisStoreLog.ManifestUnreadable(logger, memberId, (string)entry.Name!, e.Message);
            }
        }
        return manifests;
    }

    public async Task PruneAsync(string memberId, int keep)
    {
        var db = await DbAsync();
        var steps = await ManifestStepsAsync(db, memberId);
        if (steps.Count == 0) return;
        long oldestKept = steps[Math.Min(Math.Max(keep, 1), steps.Count) - 1];
        // Older than the oldest kept: complete checkpoints beyond `keep`, and the leftovers of crashed writes.
        await RemoveAsync(db, memberId, steps.Where(s => s < oldestKept), double.NegativeInfinity, oldestKept, Exclude.Stop);
    }

    public async Task DeleteAfterAsync(string memberId, long step)
    {
        var db = await DbAsync();
        var steps = await ManifestStepsAsync(db, memberId);
        await RemoveAsync(db, memberId, steps.Where(s => s > step), step, double.PositiveInfinity, Exclude.Start);
    }

    private async Task<List<long>> ManifestStepsAsync(IDatabase db, string memberId) =>
        (await db.HashKeysAsync(ManifestsKey(memberId)))
            .Select(k => long.TryParse((string?)k, NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : -1)
            .Where(s => s >= 0).OrderDescending().ToList();

    private async Task RemoveAsync(IDatabase db, string memberId, IEnumerable<long> manifestSteps, double from, double to, Exclude exclude)
    {
        var fields = manifestSteps.Select(s => (RedisValue)StepField(s)).ToArray();
        // Manifests first: a checkpoint never names a part that is already gone.
        if (fields.Length > 0) await db.HashDeleteAsync(ManifestsKey(memberId), fields);
        var parts = await db.SortedSetRangeByScoreAsync(PartsKey(memberId), from, to, exclude);
        if (parts.Length == 0) return;
        await db.KeyDeleteAsync(parts.Select(p => (RedisKey)(string)p!).ToArray());
        await db.SortedSetRemoveAsync(PartsKey(memberId), parts);
    }

    public async Task WriteMemberRecordAsync(MemberRecord record)
    {
        var db = await DbAsync();
        await db.HashSetAsync(RecordsKey, FileCheckpointStore.SafeName(record.MemberId), JsonSerializer.SerializeToUtf8Bytes(record, Json));
    }

    public async Task<IReadOnlyList<MemberRecord>> ListMemberRecordsAsync()
    {
        var db = await DbAsync();
        var records = new List<MemberRecord>();
        foreach (var entry in await db.HashGetAllAsync(RecordsKey))
        {
            try
            {
                var record = JsonSerializer.Deserialize<MemberRecord>((byte[])entry.Value!, Json);
                if (record is not null) records.Add(record);
            }
            catch (JsonException e)
            {
                RedisStoreLog.RecordUnreadable(logger, (string)entry.Name!, e.Message);
            }
        }
        return records;
    }

    public async ValueTask DisposeAsync()
    {
        if (connection is not null) await connection.DisposeAsync();
        connecting.Dispose();
    }
}

internal static partial class RedisStoreLog
{
    [LoggerMessage(201, LogLevel.Warning, "Member {MemberId}: the manifest of the checkpoint at step {Step} does not parse ({Reason}); that checkpoint is skipped and an older one is used")]
    public static partial void ManifestUnreadable(ILogger logger, string memberId, string step, string reason);

    [LoggerMessage(202, LogLevel.Warning, "Member record of {MemberId} does not parse ({Reason}); that member is not resumed automatically")]
    public static partial void RecordUnreadable(ILogger logger, string memberId, string reason);
}
