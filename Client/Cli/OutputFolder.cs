namespace GanCluster.Client.Cli;

/// <summary>Where a command writes its report: refused before anything starts when it cannot be a folder.</summary>
public static class OutputFolder
{
    /// <summary>The full path of <paramref name="path"/>, or a bad-input error naming the option when it is a file.</summary>
    public static string Check(string path, string option = "--out")
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new ArgumentException($"{option}: '{full}' is a file; name a folder (new or existing) for the report");
        for (var parent = Path.GetDirectoryName(full); !string.IsNullOrEmpty(parent); parent = Path.GetDirectoryName(parent))
            if (File.Exists(parent)) throw new ArgumentException($"{option}: '{parent}' in '{full}' is a file, so the folder cannot be made");
        return full;
    }
}
