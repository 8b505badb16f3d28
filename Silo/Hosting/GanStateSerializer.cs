using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace GanCluster.Silo.Hosting;

/// <summary>
/// Grain state as plain JSON for the Redis "gan-store", the same shape FileGrainStorage writes: no .NET type names in
/// the document (Orleans' default JSON carries them, so renaming a state class would make stored state unreadable),
/// enums as names, and NaN/±∞ allowed because a diverging member's metrics hold them.
/// </summary>
public sealed class GanStateSerializer : IGrainStorageSerializer
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public BinaryData Serialize<T>(T? input) => new(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    public T Deserialize<T>(BinaryData input)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)
                ?? throw new InvalidDataException($"stored {typeof(T).Name} is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"stored {typeof(T).Name} does not parse as JSON of that shape: {e.Message}", e);
        }
    }
}
