namespace GanCluster.Gan.Data;

/// <summary>The checkout this program runs from: the folder holding GanCluster.sln (shipped digits, examples, tools).</summary>
public static class RepositoryRoot
{
    public const string SolutionFile = "GanCluster.sln";

    /// <summary>The first folder holding <see cref="SolutionFile"/> above the application's folder, then above the working directory; null outside a checkout.</summary>
    public static string? Find()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
                if (File.Exists(Path.Combine(folder.FullName, SolutionFile))) return folder.FullName;
        return null;
    }

    /// <summary><see cref="Find"/>, or an exception that says what was looked for.</summary>
    public static string Require() => Find() ?? throw new DirectoryNotFoundException(
        $"no folder above '{AppContext.BaseDirectory}' or the working directory holds {SolutionFile}: run from a GanCluster checkout");
}
