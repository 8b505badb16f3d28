using System.Text.Json;
using Orleans.Serialization.Cloning;
using GanCluster.Gan.Specs;

namespace GanCluster.Contracts.Specs;

// The spec is a plain record of the GAN library (no Orleans there); grain calls and grain state carry it as the
// same JSON a user writes, so that the wire form is the file format and needs no field ids of its own.

[GenerateSerializer, Immutable, Alias("gan.GanSpecJson")]
public struct GanSpecSurrogate
{
    [Id(0)] public string Json;
}

[RegisterConverter]
public sealed class GanSpecSurrogateConverter : IConverter<GanSpec, GanSpecSurrogate>
{
    // Exactly what was sent, nulls and NaNs included: the grain's validation must see the spec as the caller built it.
    private static readonly JsonSerializerOptions Compact = new(SpecLoader.Json)
    {
        WriteIndented = false,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public GanSpec ConvertFromSurrogate(in GanSpecSurrogate surrogate) =>
        JsonSerializer.Deserialize<GanSpec>(surrogate.Json, Compact) ?? throw new InvalidDataException("a spec message holds JSON null");

    public GanSpecSurrogate ConvertToSurrogate(in GanSpec value) => new() { Json = JsonSerializer.Serialize(value, Compact) };
}

/// <summary>A spec is immutable: a grain call on the same silo passes the same instance.</summary>
[RegisterCopier]
public sealed class GanSpecCopier : IDeepCopier<GanSpec>
{
    public GanSpec DeepCopy(GanSpec? input, CopyContext context) => input!;
}

/// <summary>An invalid spec found by a grain reaches the client as the same exception, with each problem.</summary>
[GenerateSerializer, Alias("gan.SpecException")]
public struct SpecExceptionSurrogate
{
    [Id(0)] public string[] Problems;
}

[RegisterConverter]
public sealed class SpecExceptionSurrogateConverter : IConverter<SpecException, SpecExceptionSurrogate>
{
    public SpecException ConvertFromSurrogate(in SpecExceptionSurrogate surrogate) => new(surrogate.Problems);
    public SpecExceptionSurrogate ConvertToSurrogate(in SpecException value) => new() { Problems = value.Problems };
}
