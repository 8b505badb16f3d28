using System.Text.Json;
using Orleans.Runtime;
using Orleans.Storage;

using GanCluster.Grains.Storage;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Orleans grain storage in JSON files under the data directory: the embedded default, durable across restarts with
/// no external service. Writes are atomic (temp file + rename) and guarded by an ETag like the real providers.
/// </summary>
public sealed class FileGrainStorage(string directory) : IGrainStorage
{
    // NaN and ±∞ occur in the metrics of a diverging member and must persist like any number.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
    private readonly string root = Path.GetFullPath(directory);

    private string PathFor(string stateName, GrainId grainId)
    {
        string key = Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(grainId.ToString()));
        // Long keys are hashed so that no file name exceeds the file system's limit.
        if (key.Length > 180) key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(grainId.ToString())));
        return Path.Combine(root, FileCheckpointStore.SafeName(stateName), key + ".json");
    }

    private sealed record Envelope<T>(string ETag, string GrainId, T State);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathFor(stateName, grainId);
        if (!File.Exists(path))
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }
        try
        {
            var envelope = JsonSerializer.Deserialize<Envelope<T>>(await File.ReadAllBytesAsync(path), Json)
                ?? throw new InvalidDataException("empty state file");
            grainState.State = envelope.State;
            grainState.ETag = envelope.ETag;
            grainState.RecordExists = true;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"grain state file {path} for {grainId} does not parse: {e.Message}", e);
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathFor(stateName, grainId);
        string? current = null;
        if (File.Exists(path))
        {
            using var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(path));
            current = doc.RootElement.GetProperty("eTag").GetString();
        }
        if (current != grainState.ETag)
            throw new InconsistentStateException($"state {stateName} of {grainId} changed underneath (stored ETag {current}, expected {grainState.ETag})", current, grainState.ETag);
        string etag = Guid.NewGuid().ToString("N");
        await AtomicFile.WriteAsync(path, JsonSerializer.SerializeToUtf8Bytes(new Envelope<T>(etag, grainId.ToString(), grainState.State!), Json));
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathFor(stateName, grainId);
        if (File.Exists(path)) File.Delete(path);
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }
}
