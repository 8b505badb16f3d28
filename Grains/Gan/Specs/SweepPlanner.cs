using System.Globalization;
using System.Text.Json.Nodes;

namespace GanCluster.Gan.Specs;

/// <summary>One member of a sweep as planned: its id, population, spec and the point of the search space it trains.</summary>
public sealed record MemberPlan(string MemberId, int Population, GanSpec Spec, IReadOnlyDictionary<string, string> Hyperparameters);

/// <summary>Expands a sweep spec into its members: a grid, or random draws seeded by the search's seed.</summary>
public static class SweepPlanner
{
    public static readonly string[] Strategies = ["grid", "random", "pbt"];
    public const int MaxMembers = 4096;

    public static void ValidateSearch(SearchSpec search, List<string> p)
    {
        if (!Strategies.Contains(search.Strategy)) p.Add($"search.strategy: must be one of {string.Join(", ", Strategies)}, got '{search.Strategy}'");
        var ms = search.MedianStopping;
        if (ms.GraceSteps < 0) p.Add($"search.medianStopping.graceSteps: must be at least 0, got {ms.GraceSteps}");
        if (!(ms.Factor >= 0 && ms.Factor <= 10)) p.Add($"search.medianStopping.factor: must be between 0 and 10, got {ms.Factor.ToString(CultureInfo.InvariantCulture)}");
        if (ms.MinOthers is < 1 or > 1000) p.Add($"search.medianStopping.minOthers: must be between 1 and 1000, got {ms.MinOthers}");
        if (ms.Enabled && search.Strategy == "pbt") p.Add("search.medianStopping: PBT replaces weak members itself; median stopping is for grid and random");
        if (search.Strategy == "pbt")
        {
            var pbt = search.Pbt;
            if (pbt.Interval < 1) p.Add($"search.pbt.interval: must be at least 1, got {pbt.Interval}");
            if (!(pbt.Quantile > 0 && pbt.Quantile <= 0.5)) p.Add($"search.pbt.quantile: must be in (0, 0.5], got {pbt.Quantile.ToString(CultureInfo.InvariantCulture)}");
            if (pbt.PerturbFactors.Length == 0 || pbt.PerturbFactors.Any(f => !(f > 0 && f < 100))) p.Add("search.pbt.perturbFactors: must be a non-empty list of positive factors");
            if (!(pbt.ResampleProbability >= 0 && pbt.ResampleProbability <= 1)) p.Add($"search.pbt.resampleProbability: must be in [0, 1], got {pbt.ResampleProbability.ToString(CultureInfo.InvariantCulture)}");
            if (search.Concurrency < search.MembersPerPopulation * search.Populations)
                p.Add($"search.concurrency: population-based training needs every member training at once ({search.Populations * search.MembersPerPopulation}), got {search.Concurrency}");
        }
        if (search.Populations is < 1 or > 1000) p.Add($"search.populations: must be between 1 and 1000, got {search.Populations}");
        if (search.MembersPerPopulation is < 1 or > MaxMembers) p.Add($"search.membersPerPopulation: must be between 1 and {MaxMembers}, got {search.MembersPerPopulation}");
        if (search.Concurrency is < 1 or > 1024) p.Add($"search.concurrency: must be between 1 and 1024, got {search.Concurrency}");
        if (search.Seed < 0) p.Add($"search.seed: must be at least 0, got {search.Seed}");
        if (search.Space.Count == 0) p.Add("search.space: needs at least one hyperparameter (a spec path such as optimizer.generatorLr)");
        var space = Space(search, p);
        foreach (var key in search.Space.Keys.Where(k => k.StartsWith("search", StringComparison.Ordinal) || k is "name"))
            p.Add($"search.space.{key}: the search and the name cannot be searched");
        if (search.Strategy == "grid")
        {
            var grid = space.Grid("search.space", p);
            if ((long)grid.Count * search.Populations > MaxMembers) p.Add($"search: the grid has {grid.Count} points × {search.Populations} populations, more than {MaxMembers} members");
        }
        else if ((long)search.MembersPerPopulation * search.Populations > MaxMembers)
            p.Add($"search: {search.Populations} populations × {search.MembersPerPopulation} members is more than {MaxMembers} members");
    }

    public static SearchSpace Space(SearchSpec search, List<string> problems)
    {
        var json = new JsonObject();
        foreach (var (path, d) in search.Space)
        {
            var entry = new JsonObject();
            if (d.Choice is { } c) entry["choice"] = new JsonArray(c.Select(v => JsonNode.Parse(v)).ToArray());
            if (d.Uniform is { } u) entry["uniform"] = new JsonArray(u.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            if (d.LogUniform is { } l) entry["logUniform"] = new JsonArray(l.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            if (d.IntRange is { } r) entry["intRange"] = new JsonArray(r.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            json[path] = entry;
        }
        return SearchSpace.Parse(json, "search.space", problems);
    }

    /// <summary>The population of a sweep member, read back from its id (<c>{sweepId}-p{population}-m{index}</c>); "0" otherwise.</summary>
    public static string PopulationOf(string sweepId, string memberId)
    {
        string prefix = sweepId + "-p";
        if (!memberId.StartsWith(prefix, StringComparison.Ordinal)) return "0";
        int end = memberId.IndexOf("-m", prefix.Length, StringComparison.Ordinal);
        var digits = end < 0 ? "" : memberId[prefix.Length..end];
        return digits.Length > 0 && digits.All(char.IsAsciiDigit) ? digits : "0";
    }

    /// <summary>
    /// The members of a sweep, each spec validated (a searched value that the spec refuses is reported with its point).
    /// Member ids are <c>{sweepId}-p{population}-m{index}</c>.
    /// </summary>
    public static IReadOnlyList<MemberPlan> Plan(string sweepId, GanSpec spec)
    {
        var search = spec.Search ?? throw new SpecException(["search: a sweep spec needs a search section"]);
        var problems = new List<string>();
        ValidateSearch(search, problems);
        if (problems.Count > 0) throw new SpecException(problems);
        var space = Space(search, problems);
        var baseJson = JsonNode.Parse(SpecLoader.ToJson(spec with { Search = null }))!.AsObject();
        var rng = new Random(checked((int)(search.Seed % int.MaxValue)));
        var plans = new List<MemberPlan>();
        for (int population = 0; population < search.Populations; population++)
        {
            var points = search.Strategy == "grid"
                ? space.Grid("search.space", problems)
                : Enumerable.Range(0, search.MembersPerPopulation).Select(_ => space.Sample(rng)).ToList();
            foreach (var point in points)
            {
                string id = string.Create(CultureInfo.InvariantCulture, $"{sweepId}-p{population}-m{plans.Count}");
                try
                {
                    var member = SpecLoader.Parse(baseJson.ToJsonString(), SearchSpace.Overrides(point), id);
                    plans.Add(new MemberPlan(id, population, member, point));
                }
                catch (SpecException e)
                {
                    problems.AddRange(e.Problems.Select(x => $"search.space point {SearchSpace.Describe(point)}: {x}"));
                }
            }
        }
        if (problems.Count > 0) throw new SpecException(problems.Distinct().Take(20).ToList());
        return plans;
    }
}
