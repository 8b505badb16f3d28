using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GanCluster.Gan.Specs;

/// <summary>One hyperparameter of a search: a spec path and the values it may take.</summary>
public abstract record SearchDimension(string Path)
{
    /// <summary>Continuous dimensions are perturbed by PBT's explore step; discrete ones are resampled.</summary>
    public virtual bool IsContinuous => false;
    /// <summary>A random value, as JSON text for the spec override.</summary>
    public abstract string Sample(Random rng);
}

/// <summary>A list of JSON values (numbers, strings, booleans).</summary>
public sealed record ChoiceDimension(string Path, string[] Values) : SearchDimension(Path)
{
    public override string Sample(Random rng) => Values[rng.Next(Values.Length)];
}

public sealed record UniformDimension(string Path, double Low, double High) : SearchDimension(Path)
{
    public override bool IsContinuous => true;
    public override string Sample(Random rng) => Json(Low + rng.NextDouble() * (High - Low));
    public double Clamp(double v) => Math.Clamp(v, Low, High);
    internal static string Json(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

public sealed record LogUniformDimension(string Path, double Low, double High) : SearchDimension(Path)
{
    public override bool IsContinuous => true;
    public override string Sample(Random rng) => UniformDimension.Json(Math.Exp(Math.Log(Low) + rng.NextDouble() * (Math.Log(High) - Math.Log(Low))));
    public double Clamp(double v) => Math.Clamp(v, Low, High);
}

/// <summary>Whole numbers from Low to High inclusive.</summary>
public sealed record IntRangeDimension(string Path, long Low, long High) : SearchDimension(Path)
{
    public override string Sample(Random rng) => rng.NextInt64(Low, High + 1).ToString(CultureInfo.InvariantCulture);
    public IEnumerable<string> Values() { for (long v = Low; v <= High; v++) yield return v.ToString(CultureInfo.InvariantCulture); }
}

/// <summary>
/// The search space of a sweep: spec paths to value sets. Members are the base spec plus overrides
/// (path → JSON value), validated like any spec, so anything the spec can set can be searched.
/// </summary>
public sealed class SearchSpace
{
    private SearchSpace(IReadOnlyList<SearchDimension> dimensions) => Dimensions = dimensions;

    public IReadOnlyList<SearchDimension> Dimensions { get; }

    /// <summary>
    /// Parses <c>{"optimizer.generatorLr": {"logUniform": [1e-4, 1e-2]}, "loss.kind": {"choice": ["standard", "hinge"]},
    /// "training.dStepsPerGStep": {"intRange": [1, 3]}, "optimizer.beta1": {"uniform": [0, 0.9]}}</c>; every problem is
    /// added to <paramref name="problems"/> with its path under <paramref name="prefix"/>.
    /// </summary>
    public static SearchSpace Parse(JsonObject? space, string prefix, List<string> problems)
    {
        var dimensions = new List<SearchDimension>();
        if (space is null) return new SearchSpace(dimensions);
        foreach (var (path, node) in space)
        {
            string at = $"{prefix}.{path}";
            if (node is not JsonObject spec || spec.Count != 1)
            {
                problems.Add($"{at}: must be an object with exactly one of choice, uniform, logUniform, intRange");
                continue;
            }
            var (kind, value) = spec.First();
            switch (kind)
            {
                case "choice":
                    if (value is not JsonArray items || items.Count == 0 || items.Any(i => i is null or JsonObject or JsonArray))
                        problems.Add($"{at}.choice: must be a non-empty list of numbers, strings or booleans");
                    else dimensions.Add(new ChoiceDimension(path, items.Select(i => i!.ToJsonString()).ToArray()));
                    break;
                case "uniform" or "logUniform":
                    if (!TryPair(value, out double low, out double high) || !(low < high))
                        problems.Add($"{at}.{kind}: must be [low, high] with low < high");
                    else if (kind == "logUniform" && low <= 0)
                        problems.Add($"{at}.logUniform: low must be greater than 0, got {low.ToString(CultureInfo.InvariantCulture)}");
                    else dimensions.Add(kind == "uniform" ? new UniformDimension(path, low, high) : new LogUniformDimension(path, low, high));
                    break;
                case "intRange":
                    if (!TryPair(value, out double a, out double b) || a != Math.Floor(a) || b != Math.Floor(b) || a > b)
                        problems.Add($"{at}.intRange: must be [low, high], whole numbers with low ≤ high");
                    else dimensions.Add(new IntRangeDimension(path, (long)a, (long)b));
                    break;
                default:
                    problems.Add($"{at}: unknown kind '{kind}' (choice, uniform, logUniform, intRange)");
                    break;
            }
        }
        return new SearchSpace(dimensions);
    }

    private static bool TryPair(JsonNode? node, out double low, out double high)
    {
        low = high = 0;
        if (node is not JsonArray { Count: 2 } pair) return false;
        // Through the JSON text: a node built from a long (not parsed) refuses GetValue<double>.
        return pair[0] is JsonValue a && pair[1] is JsonValue b
            && a.GetValueKind() == JsonValueKind.Number && b.GetValueKind() == JsonValueKind.Number
            && double.TryParse(a.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out low)
            && double.TryParse(b.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out high)
            && double.IsFinite(low) && double.IsFinite(high);
    }

    /// <summary>Every combination of the (discrete) dimensions, in a stable order; refuses continuous ones.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> Grid(string prefix, List<string> problems)
    {
        var axes = new List<(string Path, string[] Values)>();
        foreach (var d in Dimensions)
        {
            switch (d)
            {
                case ChoiceDimension c: axes.Add((c.Path, c.Values)); break;
                case IntRangeDimension r: axes.Add((r.Path, r.Values().ToArray())); break;
                default: problems.Add($"{prefix}.{d.Path}: grid search needs choice or intRange values, not a continuous range"); break;
            }
        }
        IEnumerable<Dictionary<string, string>> combos = [new Dictionary<string, string>()];
        foreach (var (path, values) in axes)
            combos = combos.SelectMany(c => values.Select(v => new Dictionary<string, string>(c) { [path] = v }));
        return combos.ToList();
    }

    /// <summary>One random point of the space.</summary>
    public IReadOnlyDictionary<string, string> Sample(Random rng) => Dimensions.ToDictionary(d => d.Path, d => d.Sample(rng));

    /// <summary>
    /// PBT's explore step on a point: each continuous value multiplied by one of <paramref name="factors"/> (clamped to
    /// its range), or, with probability <paramref name="resampleProbability"/>, and always for discrete dimensions
    /// that are resampled, drawn afresh.
    /// </summary>
    public IReadOnlyDictionary<string, string> Explore(IReadOnlyDictionary<string, string> current, Random rng, double[] factors, double resampleProbability)
    {
        var next = new Dictionary<string, string>();
        foreach (var d in Dimensions)
        {
            bool resample = rng.NextDouble() < resampleProbability || !current.ContainsKey(d.Path);
            if (resample || !d.IsContinuous) { next[d.Path] = resample ? d.Sample(rng) : current[d.Path]; continue; }
            double value = double.Parse(current[d.Path], CultureInfo.InvariantCulture) * factors[rng.Next(factors.Length)];
            next[d.Path] = UniformDimension.Json(d switch
            {
                UniformDimension u => u.Clamp(value),
                LogUniformDimension l => l.Clamp(value),
                _ => value,
            });
        }
        return next;
    }

    /// <summary>The point's values as <c>--set</c>-style overrides.</summary>
    public static string[] Overrides(IReadOnlyDictionary<string, string> point) => point.Select(p => $"{p.Key}={p.Value}").ToArray();

    /// <summary>Readable form of a point for lineage logs and leaderboards.</summary>
    public static string Describe(IReadOnlyDictionary<string, string> point) =>
        string.Join(", ", point.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    internal static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web);
}
