using SkiaSharp;

namespace GanCluster.Client.Reports;

/// <summary>A grid of generated 28×28 digits (conditional models: one row per class), as one PNG.</summary>
public static class DigitGrid
{
    /// <param name="images">Rows of 784 pixels in [−1, 1].</param>
    /// <param name="byClassRows">Conditional samples arrive cycling through the classes (i mod K): place sample i in
    /// row i mod <paramref name="columns"/> so that each row shows one class.</param>
    public static byte[] Render(float[][] images, int columns, string title, bool byClassRows = false, int scale = 3)
    {
        const int side = 28, gap = 2, header = 40;
        int rows = Math.Max(1, (images.Length + columns - 1) / columns);
        int cell = side * scale + gap;
        using var surface = SKSurface.Create(new SKImageInfo(columns * cell + gap, header + rows * cell + gap));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default, 16);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        canvas.DrawText(title, 8, 26, font, text);
        using var bitmap = new SKBitmap(side, side, SKColorType.Gray8, SKAlphaType.Opaque);
        for (int i = 0; i < images.Length; i++)
        {
            if (images[i].Length != side * side)
                throw new ArgumentException($"image {i} has {images[i].Length} pixels, not {side * side}", nameof(images));
            for (int p = 0; p < side * side; p++)
            {
                // [−1, 1] → 0..255; NaN shows as mid grey rather than failing the whole picture.
                float v = float.IsFinite(images[i][p]) ? Math.Clamp((images[i][p] + 1) / 2, 0, 1) : 0.5f;
                byte b = (byte)Math.Round(v * 255);
                bitmap.SetPixel(p % side, p / side, new SKColor(b, b, b));
            }
            (int row, int column) = byClassRows ? (i % columns, i / columns) : (i / columns, i % columns);
            var target = SKRect.Create(gap + column * cell, header + gap + row * cell, side * scale, side * scale);
            canvas.DrawBitmap(bitmap, target);
        }
        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    public static void Write(string path, float[][] images, int columns, string title, bool byClassRows = false) =>
        SamplesPlot.WriteAtomic(path, Render(images, columns, title, byClassRows));
}
