using System.Reflection;
using Assembly = System.Reflection.Assembly;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;
using Slices = ArchUnitNET.Fluent.Slices.SliceRuleDefinition;

namespace GanCluster.Tests.Architecture;

/// <summary>
/// The floors of the code (docs/architecture.md), kept by the compiler's project references and by these rules:
/// the GAN library knows no Orleans; each project and each folder of a project imports only the floors below it;
/// no folder imports another that imports it back.
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Gan = typeof(GanCluster.Gan.Specs.GanSpec).Assembly;
    private static readonly Assembly Contracts = typeof(GanCluster.Contracts.Members.ICoordinatorGrain).Assembly;
    private static readonly Assembly Grains = typeof(GanCluster.Grains.Members.CoordinatorGrain).Assembly;
    private static readonly Assembly Silo = typeof(GanCluster.Silo.GanSiloApp).Assembly;
    private static readonly Assembly Client = typeof(GanCluster.Client.Program).Assembly;

    private static readonly ArchUnitNET.Domain.Architecture Code =
        new ArchLoader().LoadAssemblies(Gan, Contracts, Grains, Silo, Client).Build();

    /// <summary>Each project's floor, bottom first: a project may reference only the projects before it.</summary>
    private static readonly Assembly[] Projects = [Gan, Contracts, Grains, Silo, Client];

    /// <summary>Within each project, its folders (namespaces) bottom first; folders on one floor do not import each other.</summary>
    public static readonly TheoryData<string, string[][]> Floors = new()
    {
        { "GanCluster.Gan", [["Specs"], ["Compute", "Data"], ["Losses"], ["Networks"], ["Training"], ["Evaluation"]] },
        { "GanCluster.Contracts", [["Tensors", "Specs"], ["Workers"], ["Members"], ["Sweeps"]] },
        { "GanCluster.Grains", [["Telemetry"], ["Compute", "Storage"], ["Placement", "Evaluation"], ["Workers"], ["Members"], ["Sweeps"]] },
        { "GanCluster.Client", [["Hosting"], ["Reports"], ["Cli"], ["Experiments"]] },
    };

    [Fact]
    public void The_GAN_library_references_no_Orleans_and_no_other_project()
    {
        var references = Gan.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        Assert.DoesNotContain(references, name => name.StartsWith("Orleans", StringComparison.Ordinal) || name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
        Assert.DoesNotContain(references, name => name.StartsWith("GanCluster.", StringComparison.Ordinal));
    }

    [Fact]
    public void Each_project_references_only_the_projects_below_it()
    {
        for (int i = 0; i < Projects.Length; i++)
        {
            var above = Projects.Skip(i + 1).Select(a => a.GetName().Name).ToHashSet();
            var upward = Projects[i].GetReferencedAssemblies().Select(a => a.Name).Where(above.Contains).ToArray();
            Assert.True(upward.Length == 0, $"{Projects[i].GetName().Name} references {string.Join(", ", upward)}, a project above it");
        }
    }

    [Theory]
    [MemberData(nameof(Floors))]
    public void Each_folder_imports_only_the_floors_below_it(string project, string[][] floors)
    {
        for (int i = 0; i < floors.Length; i++)
        {
            var higher = floors.Skip(i + 1).SelectMany(f => f).Select(n => $"{project}.{n}").ToArray();
            foreach (var folder in floors[i])
            {
                // The same floor: its folders stand side by side and do not import each other either.
                var beside = floors[i].Where(n => n != folder).Select(n => $"{project}.{n}");
                var forbidden = higher.Concat(beside).ToArray();
                if (forbidden.Length == 0) continue;
                Types().That().ResideInNamespaceMatching($@"^{Escape(project)}\.{folder}(\..*)?$")
                    .Should().NotDependOnAny(Types().That().ResideInNamespaceMatching($"^({string.Join("|", forbidden.Select(Escape))})(\\..*)?$"))
                    .Because($"{project}.{folder} sits below {string.Join(", ", forbidden)} (docs/architecture.md)")
                    .Check(Code);
            }
        }
    }

    [Fact]
    public void Every_folder_of_every_project_is_on_a_floor()
    {
        // A new folder must be given its floor above, or its imports go unchecked.
        var known = Floors.Select(row => ((string)row[0], (string[][])row[1]))
            .SelectMany(p => p.Item2.SelectMany(f => f).Select(n => $"{p.Item1}.{n}")).ToHashSet();
        var roots = Floors.Select(row => (string)row[0]).ToHashSet();
        var unplaced = Code.Namespaces.Select(n => n.FullName)
            .Where(n => roots.Any(r => n.StartsWith(r + ".", StringComparison.Ordinal)))
            .Select(n => string.Join('.', n.Split('.').Take(3)))
            .Where(n => !known.Contains(n)).Distinct().ToArray();
        Assert.True(unplaced.Length == 0, $"folders on no floor: {string.Join(", ", unplaced)}");
    }

    [Theory]
    [InlineData("GanCluster.Gan.(*)..")]
    [InlineData("GanCluster.Contracts.(*)..")]
    [InlineData("GanCluster.Grains.(*)..")]
    [InlineData("GanCluster.Silo.(*)..")]
    [InlineData("GanCluster.Client.(*)..")]
    public void No_folder_imports_one_that_imports_it_back(string slices) =>
        Slices.Slices().Matching(slices).Should().BeFreeOfCycles().Check(Code);

    private static string Escape(string name) => name.Replace(".", "\\.", StringComparison.Ordinal);
}
