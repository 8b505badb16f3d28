using System.Globalization;
using System.Text;

namespace GanCluster.Client.Reports;

public static class SamplesCsv
{
    public static void Write(string path, float[][] samples, int[]? nearestMode, double[]? distanceToNearestMode, double modeStd)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(samples);
        // No rows leave the dimension unknown; 2 matches the ring and grid tasks.
        int dim = samples.Length > 0 ? samples[0]?.Length ?? 0 : 2;
        if (dim is not (1 or 2) || samples.Any(r => r is null || r.Length != dim))
            throw new ArgumentException("Every sample row must have the same length, 1 or 2.", nameof(samples));
        if (nearestMode is not null && nearestMode.Length != samples.Length)
            throw new ArgumentException($"nearestMode has {nearestMode.Length} values but samples has {samples.Length}.", nameof(nearestMode));
        if (distanceToNearestMode is not null && distanceToNearestMode.Length != samples.Length)
            throw new ArgumentException($"distanceToNearestMode has {distanceToNearestMode.Length} values but samples has {samples.Length}.", nameof(distanceToNearestMode));

        var inv = CultureInfo.InvariantCulture;
        double radius = 3 * modeStd;
        var sb = new StringBuilder();
        sb.Append(dim == 1 ? "x" : "x,y");
        if (nearestMode is not null) sb.Append(",nearest_mode");
        if (distanceToNearestMode is not null) sb.Append(",distance,high_quality");
        sb.Append('\n');
        for (int i = 0; i < samples.Length; i++)
        {
            sb.Append(samples[i][0].ToString("R", inv));
            if (dim == 2) sb.Append(',').Append(samples[i][1].ToString("R", inv));
            if (nearestMode is not null) sb.Append(',').Append(nearestMode[i].ToString(inv));
            if (distanceToNearestMode is not null)
            {
                double d = distanceToNearestMode[i];
                sb.Append(',').Append(d.ToString("R", inv)).Append(d <= radius ? ",1" : ",0");
            }
            sb.Append('\n');
        }

        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Written aside and moved into place, so a reader never sees a half-written file.
        string tmp = $"{full}.{Guid.NewGuid():N}.tmp";
        File.WriteAllText(tmp, sb.ToString(), new UTF8Encoding(false));
        File.Move(tmp, full, overwrite: true);
    }
}
