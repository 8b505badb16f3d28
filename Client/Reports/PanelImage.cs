using SkiaSharp;

namespace GanCluster.Client.Reports;

/// <summary>Lays PNG tiles out in a grid under a title: the side-by-side pictures of an experiment.</summary>
public static class PanelImage
{
    public static void Write(string path, IReadOnlyList<byte[]> tiles, int columns, string title)
    {
        if (tiles.Count == 0) throw new ArgumentException("a panel needs at least one tile", nameof(tiles));
        using var first = SKBitmap.Decode(tiles[0]);
        int tileWidth = first.Width, tileHeight = first.Height;
        int rows = (tiles.Count + columns - 1) / columns;
        const int header = 48;
        using var surface = SKSurface.Create(new SKImageInfo(columns * tileWidth, header + rows * tileHeight));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default, 24);
        using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawText(title, 16, 32, font, paint);
        for (int i = 0; i < tiles.Count; i++)
        {
            using var tile = SKBitmap.Decode(tiles[i]);
            canvas.DrawBitmap(tile, i % columns * tileWidth, header + i / columns * tileHeight);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        SamplesPlot.WriteAtomic(path, png.ToArray());
    }
}
