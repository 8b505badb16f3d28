using GanCluster.Gan.Specs;

namespace GanCluster.Gan.Data;

/// <summary>
/// A spec file as a user gives it: read, overridden (<c>training.steps=2000</c>), validated, and its data files
/// checked, so that a missing or corrupt file is reported before anything starts.
/// </summary>
public static class SpecFile
{
    public static GanSpec Load(string path, IEnumerable<string>? overrides = null)
    {
        if (Directory.Exists(path)) throw new SpecException([$"spec file '{path}' is a folder; name a spec file in it (examples/ has some)"]);
        if (!File.Exists(path)) throw new SpecException([$"spec file '{path}' does not exist"]);
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new SpecException([$"spec file '{path}' cannot be read: {e.Message}"]); }
        var spec = CheckDataFiles(SpecLoader.Parse(text, overrides, path), Path.GetDirectoryName(Path.GetFullPath(path))!);
        // A sweep: every member's spec (the base plus a searched point) must be valid too, before anything starts.
        if (spec.Search is not null) SweepPlanner.Plan(spec.Name, spec);
        return spec;
    }

    /// <summary>
    /// Resolves the data files of an idx spec against the spec's folder and checks that they read as IDX, so that a
    /// missing or corrupt file is reported before anything starts.
    /// </summary>
    public static GanSpec CheckDataFiles(GanSpec spec, string baseDirectory)
    {
        var d = spec.Data;
        try
        {
            switch (d.Kind)
            {
                case "idx":
                    string images = Path.GetFullPath(d.Images!, baseDirectory), labels = Path.GetFullPath(d.Labels!, baseDirectory);
                    var problems = new List<string>();
                    IdxArray? imageArray = null, labelArray = null;
                    Check(problems, "data.images", images, () => imageArray = Idx.ReadImages(images));
                    Check(problems, "data.labels", labels, () => labelArray = Idx.ReadLabels(labels, 10));
                    // The image networks are 28×28, and every image needs its label: refuse here, not in a worker.
                    if (imageArray is { Dimensions: [_, var rows, var columns] } && (rows, columns) != (28, 28))
                        problems.Add($"data.images: '{images}' holds {rows}×{columns} images; the image networks (dcgan, lapgan) need 28×28");
                    if (imageArray is { Dimensions: [var imageCount, ..] } && labelArray is { Dimensions: [var labelCount] } && imageCount != labelCount)
                        problems.Add($"data.labels: '{labels}' holds {labelCount} labels but data.images holds {imageCount} images; they must agree");
                    if (problems.Count > 0) throw new SpecException(problems);
                    return spec with { Data = d with { Images = images, Labels = labels } };
                case "digits":
                    ImageDataset.FindShippedDigits();
                    return spec;
                default:
                    return spec;
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new SpecException([$"data: {e.Message}"]);
        }
    }

    private static void Check(List<string> problems, string field, string path, Action read)
    {
        if (!File.Exists(path)) { problems.Add($"{field}: file '{path}' does not exist"); return; }
        try { read(); }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
            problems.Add($"{field}: {e.Message}");
        }
    }
}
