using System.Security.Cryptography;
using System.Text.Json;
using GanCluster.Contracts.Members;
using GanCluster.Contracts.Workers;

namespace GanCluster.Grains.Storage;

/// <summary>Ties the generator's and the discriminator's files of one checkpoint together; written last.</summary>
public sealed record CheckpointManifest(string MemberId, long Step, CheckpointFile Generator, CheckpointFile Discriminator, DateTimeOffset CreatedAt);

/// <summary>A member's entry in the store's index, so that a restarted silo can find the members to resume.</summary>
public sealed record MemberRecord(string MemberId, MemberState State, DateTimeOffset UpdatedAt);

/// <summary>
/// Durable storage for checkpoints: files written atomically, verified by SHA-256 when read. A part's
/// <see cref="CheckpointFile.Path"/> is its location inside the store (relative to the store's root), so checkpoints
/// stay valid when the store moves; <see cref="Locate"/> says where that is now.
/// </summary>
public interface ICheckpointStore
{
    Task<CheckpointFile> WritePartAsync(string memberId, long step, string part, byte[] bytes);
    /// <summary>Reads a part back; throws <see cref="InvalidDataException"/> if it is missing, torn or corrupt.</summary>
    Task<byte[]> ReadPartAsync(CheckpointFile file);
    /// <summary>Where a part is now, for people (a report, a test): a full file path, or the Redis key.</summary>
    string Locate(CheckpointFile file);
    Task WriteManifestAsync(CheckpointManifest manifest);
    /// <summary>Complete checkpoints of a member, newest first.</summary>
    Task<IReadOnlyList<CheckpointManifest>> ListManifestsAsync(string memberId);
    Task PruneAsync(string memberId, int keep);
    /// <summary>Removes a member's checkpoints newer than <paramref name="step"/> (after it took over another's state).</summary>
    Task DeleteAfterAsync(string memberId, long step);
    Task WriteMemberRecordAsync(MemberRecord record);
    Task<IReadOnlyList<MemberRecord>> ListMemberRecordsAsync();
}

/// <summary>
/// The embedded default: files under a data directory (Gan:DataDirectory). Parts are named by their path relative to
/// that directory (<c>members/{member}/checkpoints/step-{step}/{part}-{guid}.bin</c>), so a data directory that is
/// copied or moved keeps its checkpoints. Manifests written before that hold absolute paths: such a path is used
/// where it still exists, and otherwise the same file under this store's root.
/// </summary>
public sealed class FileCheckpointStore(string dataDirectory) : ICheckpointStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
    private readonly string root = Path.GetFullPath(dataDirectory);

    public string Root => root;

    private string MemberDirectory(string memberId) => Path.Combine(root, "members", SafeName(memberId));

    private static string StepDirectoryName(long step) => $"step-{step:D10}";

    public async Task<CheckpointFile> WritePartAsync(string memberId, long step, string part, byte[] bytes)
    {
        // A unique name per write: a member that takes over another's state may checkpoint the same step again while a
        // third member is still loading the earlier files of that step (PBT), which must not change under it.
        string relative = $"members/{SafeName(memberId)}/checkpoints/{StepDirectoryName(step)}/{SafeName(part)}-{Guid.NewGuid():N}.bin";
        await AtomicFile.WriteAsync(Path.Combine(root, relative), bytes);
        return new CheckpointFile(relative, step, bytes.LongLength, Convert.ToHexString(SHA256.HashData(bytes)));
    }

    public async Task<byte[]> ReadPartAsync(CheckpointFile file)
    {
        string path = Locate(file);
        if (!File.Exists(path)) throw new InvalidDataException($"checkpoint file {path} is missing");
        var bytes = await File.ReadAllBytesAsync(path);
        if (bytes.LongLength != file.Bytes)
            throw new InvalidDataException($"checkpoint file {path} has {bytes.LongLength} bytes, expected {file.Bytes} (torn write?)");
        string sha = Convert.ToHexString(SHA256.HashData(bytes));
        if (!string.Equals(sha, file.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"checkpoint file {path} fails its SHA-256 check (corrupt)");
        return bytes;
    }

    /// <summary>
    /// The part's file under this store's root. A relative path must stay inside the root. An absolute path (a
    /// manifest written before paths were relative) is used where it exists; otherwise, if it has the store's layout
    /// (…/members/{member}/checkpoints/{step}/{file}), the same file under this root: the data directory was moved.
    /// </summary>
    public string Locate(CheckpointFile file)
    {
        string stored = file.Path;
        if (!Path.IsPathRooted(stored))
        {
            string full = Path.GetFullPath(Path.Combine(root, stored));
            if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"checkpoint file {stored} lies outside the checkpoint store {root}");
            return full;
        }
        if (File.Exists(stored)) return stored;
        var segments = stored.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);
        int n = segments.Length;
        if (n >= 5 && segments[n - 5] == "members" && segments[n - 3] == "checkpoints")
        {
            var tail = segments[(n - 5)..];
            if (tail.Skip(1).All(IsSafeName)) return Path.Combine(root, string.Join('/', tail));
        }
        return stored;
    }

    public Task WriteManifestAsync(CheckpointManifest manifest)
    {
        string path = Path.Combine(MemberDirectory(manifest.MemberId), "checkpoints", StepDirectoryName(manifest.Step), "manifest.json");
        return AtomicFile.WriteAsync(path, JsonSerializer.SerializeToUtf8Bytes(manifest, Json));
    }

    public async Task<IReadOnlyList<CheckpointManifest>> ListManifestsAsync(string memberId)
    {
        string dir = Path.Combine(MemberDirectory(memberId), "checkpoints");
        if (!Directory.Exists(dir)) return [];
        var manifests = new List<CheckpointManifest>();
        foreach (var stepDir in Directory.GetDirectories(dir, "step-*").OrderDescending(StringComparer.Ordinal))
        {
            string path = Path.Combine(stepDir, "manifest.json");
            if (!File.Exists(path)) continue; // a checkpoint whose manifest never landed is incomplete
            try
            {
                var manifest = JsonSerializer.Deserialize<CheckpointManifest>(await File.ReadAllBytesAsync(path), Json);
                if (manifest is not null) manifests.Add(manifest);
            }
            catch (JsonException)
            {
                // A manifest that does not parse is skipped; the previous checkpoint is used instead.
            }
        }
        return manifests;
    }

    public Task PruneAsync(string memberId, int keep)
    {
        string dir = Path.Combine(MemberDirectory(memberId), "checkpoints");
        if (!Directory.Exists(dir)) return Task.CompletedTask;
        var complete = Directory.GetDirectories(dir, "step-*")
            .Where(d => File.Exists(Path.Combine(d, "manifest.json")))
            .OrderDescending(StringComparer.Ordinal).ToList();
        if (complete.Count == 0) return Task.CompletedTask;
        string oldestKept = complete[Math.Min(keep, complete.Count) - 1];
        foreach (var d in Directory.GetDirectories(dir, "step-*"))
        {
            // Older than the oldest kept: complete ones beyond `keep`, and incomplete leftovers of crashes.
            if (string.CompareOrdinal(Path.GetFileName(d), Path.GetFileName(oldestKept)) < 0)
                Directory.Delete(d, recursive: true);
        }
        return Task.CompletedTask;
    }

    public Task DeleteAfterAsync(string memberId, long step)
    {
        string dir = Path.Combine(MemberDirectory(memberId), "checkpoints");
        if (!Directory.Exists(dir)) return Task.CompletedTask;
        foreach (var d in Directory.GetDirectories(dir, "step-*"))
            if (string.CompareOrdinal(Path.GetFileName(d), StepDirectoryName(step)) > 0)
                Directory.Delete(d, recursive: true);
        return Task.CompletedTask;
    }

    public Task WriteMemberRecordAsync(MemberRecord record)
    {
        string path = Path.Combine(MemberDirectory(record.MemberId), "member.json");
        return AtomicFile.WriteAsync(path, JsonSerializer.SerializeToUtf8Bytes(record, Json));
    }

    public async Task<IReadOnlyList<MemberRecord>> ListMemberRecordsAsync()
    {
        string dir = Path.Combine(root, "members");
        if (!Directory.Exists(dir)) return [];
        var records = new List<MemberRecord>();
        foreach (var memberDir in Directory.GetDirectories(dir))
        {
            string path = Path.Combine(memberDir, "member.json");
            if (!File.Exists(path)) continue;
            try
            {
                var record = JsonSerializer.Deserialize<MemberRecord>(await File.ReadAllBytesAsync(path), Json);
                if (record is not null) records.Add(record);
            }
            catch (JsonException) { }
        }
        return records;
    }

    /// <summary>Member ids and part names become path segments: refuse anything that could escape the store.</summary>
    public static string SafeName(string name) => IsSafeName(name) ? name
        : throw new ArgumentException($"'{name}' is not a valid member or part name (letters, digits, '-', '_', '.')");

    private static bool IsSafeName(string name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 200 && name is not ("." or "..") &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}

public static class AtomicFile
{
    /// <summary>Write to a temporary file, flush to disk, then rename over the target: readers never see a torn file.</summary>
    public static async Task WriteAsync(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
