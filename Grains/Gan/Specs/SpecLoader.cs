using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GanCluster.Gan.Specs;

/// <summary>
/// Parses a spec's JSON, applies command-line overrides (<c>training.steps=2000</c>), and validates it all at once:
/// unknown fields, wrong types and out-of-range values are reported together, each with its path.
/// </summary>
public static class SpecLoader
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public static GanSpec Parse(string json, IEnumerable<string>? overrides = null, string source = "spec")
    {
        JsonNode? root;
        try
        {
            var documentOptions = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
            using (var document = JsonDocument.Parse(json, documentOptions)) CheckDuplicates(document.RootElement, "");
            root = JsonNode.Parse(json, documentOptions: documentOptions);
        }
        catch (JsonException e)
        {
            throw new SpecException([$"{source}: not valid JSON (line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}"]);
        }
        if (root is not JsonObject obj) throw new SpecException([$"{source}: must be a JSON object"]);

        var problems = new List<string>();
        foreach (var assignment in overrides ?? [])
            ApplyOverride(obj, assignment, problems);
        CheckShape(obj, typeof(GanSpec), "", problems);
        if (problems.Count > 0) throw new SpecException(problems);

        GanSpec spec;
        try { spec = obj.Deserialize<GanSpec>(Json) ?? throw new SpecException([$"{source}: is empty"]); }
        catch (JsonException e) { throw new SpecException([$"{PathOf(e.Path)}: {FirstSentence(e.Message)}"]); }
        SpecValidator.ThrowIfInvalid(spec);
        return spec;
    }

    public static string ToJson(GanSpec spec) => JsonSerializer.Serialize(spec, Json);

    /// <summary>
    /// What a spec trains, as 16 hex digits: SHA-256 of <see cref="ToJson"/> (every default filled in, fields in the
    /// records' order), so two files that differ only in layout, comments or spelt-out defaults hash alike.
    /// </summary>
    public static string ContentHash(GanSpec spec)
    {
        // The search space's keys in a fixed order: the same dimensions written in another order are the same sweep.
        var canonical = spec.Search is { } search
            ? spec with { Search = search with { Space = search.Space.OrderBy(d => d.Key, StringComparer.Ordinal).ToDictionary(d => d.Key, d => d.Value) } }
            : spec;
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ToJson(canonical))))[..16];
    }

    /// <summary>
    /// A field given twice (<c>{"seed": 1, "seed": 2}</c>) is refused by name: JSON leaves it undefined which one wins,
    /// and JsonObject only notices when it is first enumerated, with a message that names no spec field.
    /// </summary>
    private static void CheckDuplicates(JsonElement element, string prefix)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    string path = prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}";
                    if (!seen.Add(property.Name)) throw new SpecException([$"{path}: appears more than once"]);
                    CheckDuplicates(property.Value, path);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray()) CheckDuplicates(item, prefix);
                break;
        }
    }

    /// <summary>Applies <c>a.b.c=value</c>; the value is JSON if it parses as JSON, a string otherwise.</summary>
    public static void ApplyOverride(JsonObject root, string assignment, List<string> problems)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) { problems.Add($"--set {assignment}: expected PATH=VALUE, for example training.steps=2000"); return; }
        string path = assignment[..eq].Trim();
        string raw = assignment[(eq + 1)..];
        JsonNode? value;
        try { value = JsonNode.Parse(raw); }
        catch (JsonException) { value = JsonValue.Create(raw); }
        var segments = path.Split('.');
        JsonObject current = root;
        for (int i = 0; i < segments.Length - 1; i++)
        {
            if (segments[i].Length == 0) { problems.Add($"--set {assignment}: empty path segment"); return; }
            if (current[segments[i]] is JsonObject child) current = child;
            else if (current[segments[i]] is null) { var created = new JsonObject(); current[segments[i]] = created; current = created; }
            else { problems.Add($"{string.Join('.', segments[..(i + 1)])}: is not an object, cannot set {path}"); return; }
        }
        current[segments[^1]] = value;
    }

    /// <summary>Walks the JSON against the spec's records: unknown fields and wrong JSON kinds, with their paths.</summary>
    private static void CheckShape(JsonObject obj, Type type, string prefix, List<string> problems)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name), p => p, StringComparer.Ordinal);
        foreach (var (name, node) in obj)
        {
            string path = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (!properties.TryGetValue(name, out var property))
            {
                problems.Add($"{path}: unknown field (known fields{(prefix.Length == 0 ? "" : " of " + prefix)}: {string.Join(", ", properties.Keys)})");
                continue;
            }
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            string? expected = ExpectedKind(t);
            var kind = node?.GetValueKind();
            if (node is null) { problems.Add($"{path}: must not be null"); continue; }
            switch (expected)
            {
                case "object":
                    if (node is not JsonObject child) problems.Add($"{path}: must be an object, got {Describe(kind)}");
                    else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
                    {
                        // A map from spec paths to records (the search space): each entry is checked as its record.
                        foreach (var (key, entry) in child)
                        {
                            if (entry is JsonObject record) CheckShape(record, t.GetGenericArguments()[1], $"{path}.{key}", problems);
                            else problems.Add($"{path}.{key}: must be an object, got {Describe(entry?.GetValueKind())}");
                        }
                    }
                    else CheckShape(child, t, path, problems);
                    break;
                case "array":
                    if (node is not JsonArray items) problems.Add($"{path}: must be a list, got {Describe(kind)}");
                    else if (t != typeof(string[]) && items.Any(i => i?.GetValueKind() != JsonValueKind.Number))
                        problems.Add($"{path}: must be a list of numbers");
                    else if (t == typeof(string[]) && items.Any(i => i is null or JsonObject or JsonArray))
                        problems.Add($"{path}: must be a list of numbers, strings or booleans");
                    break;
                case "string":
                    if (kind != JsonValueKind.String) problems.Add($"{path}: must be a string, got {Describe(kind)}");
                    break;
                case "integer":
                    if (kind != JsonValueKind.Number || !IsInteger(node)) problems.Add($"{path}: must be a whole number, got {Describe(kind)} {Short(node)}");
                    else if (!FitsInteger(node, t)) problems.Add($"{path}: {Short(node)} is out of range for a whole number");
                    break;
                case "number":
                    if (kind != JsonValueKind.Number) problems.Add($"{path}: must be a number, got {Describe(kind)} {Short(node)}");
                    break;
                case "boolean":
                    if (kind is not (JsonValueKind.True or JsonValueKind.False)) problems.Add($"{path}: must be true or false, got {Describe(kind)}");
                    break;
            }
        }
    }

    private static string? ExpectedKind(Type t) =>
        t == typeof(string) ? "string"
        : t == typeof(int) || t == typeof(long) ? "integer"
        : t == typeof(double) || t == typeof(float) ? "number"
        : t == typeof(bool) ? "boolean"
        : t.IsArray ? "array"
        : t.IsClass ? "object" : null;

    private static bool IsInteger(JsonNode node) => node.AsValue().TryGetValue<decimal>(out var d) ? decimal.Truncate(d) == d : node.ToJsonString().All(c => char.IsDigit(c) || c == '-');

    private static bool FitsInteger(JsonNode node, Type t) =>
        t == typeof(int) ? node.AsValue().TryGetValue<int>(out _) || long.TryParse(node.ToJsonString(), out var l) && l is >= int.MinValue and <= int.MaxValue
        : long.TryParse(node.ToJsonString(), out _);

    private static string Describe(JsonValueKind? kind) => kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static string Short(JsonNode node)
    {
        string s = node.ToJsonString();
        return s.Length > 30 ? s[..30] + "…" : s;
    }

    private static string PathOf(string? jsonPath) => string.IsNullOrEmpty(jsonPath) ? "spec" : jsonPath.TrimStart('$', '.');

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message.TrimEnd('.');
    }
}
