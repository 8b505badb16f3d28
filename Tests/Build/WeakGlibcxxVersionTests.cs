using System.Diagnostics;
using System.Runtime.InteropServices;
using GanCluster.Build;
using Xunit;

namespace GanCluster.Tests.Build;

/// <summary>
/// Tests of build/WeakGlibcxxVersion.cs (compiled into this project with GANCLUSTER_TESTS), on copies of the real
/// libLibTorchSharp.so from the NuGet cache. The cache copy itself is only ever read.
/// </summary>
public sealed class WeakGlibcxxVersionTests : IDisposable
{
    /// <summary>Keep in step with TorchSharp's version in Directory.Packages.props.</summary>
    private const string TorchSharpVersion = "0.107.0";

    /// <summary>Keep in step with libtorch-cpu-linux-x64's version in Directory.Packages.props.</summary>
    private const string LibTorchVersion = "2.10.0";

    private const string Version = ElfVersionNeeds.GlibcxxVersion;

    private readonly string _dir;

    public WeakGlibcxxVersionTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "gancluster-weakglibcxx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
    }

    private static string NuGetRoot()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        return !string.IsNullOrEmpty(fromEnv)
            ? fromEnv
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
    }

    private static string CachedPackageFile(string package, string version, string file)
    {
        string path = Path.Combine(NuGetRoot(), package, version, "runtimes", "linux-x64", "native", file);
        Assert.True(
            File.Exists(path),
            $"{path} is missing: restore the solution first (or update the version constant if the package version changed).");
        return path;
    }

    private static string CachedLibTorchSharp() => CachedPackageFile("torchsharp", TorchSharpVersion, "libLibTorchSharp.so");

    private string CopyToScratch(string source, string name)
    {
        string path = Path.Combine(_dir, name);
        File.Copy(source, path);
        return path;
    }

    private string ScratchLibTorchSharp() => CopyToScratch(CachedLibTorchSharp(), "libLibTorchSharp.so");

    private static List<int> DifferingOffsets(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        var offsets = new List<int>();
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i])
            {
                offsets.Add(i);
            }
        }

        return offsets;
    }

    /// <summary>Runs a tool; returns its standard output and error together.</summary>
    private static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed: {error}");
        return output.Result + error;
    }

    private static bool HasTool(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, name)));

    private static long FlagsOffset(string path, out ushort versionIndex) =>
        ElfVersionNeeds.FlagsOffset(path, File.ReadAllBytes(path), Version, out versionIndex);

    private void AssertNoTempFilesLeft()
    {
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void TheCachedLibraryNeedsTheVersionStrongly()
    {
        string path = CachedLibTorchSharp();
        long flags = FlagsOffset(path, out ushort versionIndex);
        byte[] bytes = File.ReadAllBytes(path);

        Assert.False(ElfVersionNeeds.IsWeak(path));
        Assert.Equal(0, bytes[flags] | (bytes[flags + 1] << 8));
        Assert.Equal(0x0297f842u, BitConverter.ToUInt32(bytes, (int)flags - 4)); // vna_hash, the ELF hash of the name
        Assert.Equal(18, versionIndex); // as readelf -V shows it for 0.107.0
    }

    [Fact]
    public void Patching_SetsTheWeakFlag_AndChangesOnlyThatVnaFlagsField()
    {
        string path = ScratchLibTorchSharp();
        byte[] before = File.ReadAllBytes(path);
        long flags = FlagsOffset(path, out _);

        Assert.True(ElfVersionNeeds.MarkWeak(path));

        byte[] after = File.ReadAllBytes(path);
        List<int> changed = DifferingOffsets(before, after);
        Assert.NotEmpty(changed);
        Assert.All(changed, offset => Assert.InRange((long)offset, flags, flags + 1));
        Assert.Equal((before[flags] | (before[flags + 1] << 8)) | ElfVersionNeeds.VerFlagWeak, after[flags] | (after[flags + 1] << 8));
        Assert.True(ElfVersionNeeds.IsWeak(path));
        Assert.Equal(flags, FlagsOffset(path, out _));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void PatchingAgain_IsANoOp_AndLeavesTheFileByteIdentical()
    {
        string path = ScratchLibTorchSharp();
        Assert.True(ElfVersionNeeds.MarkWeak(path));
        byte[] once = File.ReadAllBytes(path);
        DateTime writtenOnce = File.GetLastWriteTimeUtc(path);

        Assert.False(ElfVersionNeeds.MarkWeak(path));

        Assert.Equal(once, File.ReadAllBytes(path));
        Assert.Equal(writtenOnce, File.GetLastWriteTimeUtc(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void Patching_KeepsThePermissionsAndTheLastWriteTime()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string path = ScratchLibTorchSharp();
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead);
        var written = new DateTime(2026, 5, 7, 10, 3, 28, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, written);

        Assert.True(ElfVersionNeeds.MarkWeak(path));

        Assert.Equal(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead,
            File.GetUnixFileMode(path));
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void Patching_AHardLink_LeavesTheOtherLinkUntouched()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string original = ScratchLibTorchSharp();
        string linked = Path.Combine(_dir, "linked.so");
        Run("ln", original, linked);
        byte[] before = File.ReadAllBytes(original);

        Assert.True(ElfVersionNeeds.MarkWeak(linked));

        Assert.Equal(before, File.ReadAllBytes(original));
        Assert.False(ElfVersionNeeds.IsWeak(original));
        Assert.True(ElfVersionNeeds.IsWeak(linked));
    }

    [Fact]
    public void Patching_ASymbolicLink_ReplacesTheLink_AndLeavesItsTargetUntouched()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string target = ScratchLibTorchSharp();
        string link = Path.Combine(_dir, "symlink.so");
        File.CreateSymbolicLink(link, target);
        byte[] before = File.ReadAllBytes(target);

        Assert.True(ElfVersionNeeds.MarkWeak(link));

        Assert.Null(new FileInfo(link).LinkTarget);
        Assert.Equal(before, File.ReadAllBytes(target));
        Assert.True(ElfVersionNeeds.IsWeak(link));
    }

    [Fact]
    public void ReadElf_ShowsTheNeedWeak_AfterPatching()
    {
        if (!OperatingSystem.IsLinux() || !HasTool("readelf"))
        {
            return;
        }

        string path = ScratchLibTorchSharp();
        Assert.Matches(@"Name: GLIBCXX_3\.4\.32\s+Flags: none", Run("readelf", "-V", "-W", path));

        Assert.True(ElfVersionNeeds.MarkWeak(path));

        string after = Run("readelf", "-V", "-W", path);
        Assert.Matches(@"Name: GLIBCXX_3\.4\.32\s+Flags: WEAK", after);
        Assert.Matches(@"Name: GLIBCXX_3\.4\.30\s+Flags: none", after); // the other needs are left strong
    }

    [Fact]
    public void Ldd_NoLongerReportsTheVersionMissing_AfterPatching()
    {
        // ldd runs the loader's version check: on a system without GLIBCXX_3.4.32 it reports a missing strong need as an
        // error, a missing weak one as a note ("weak version ... not found").
        if (!OperatingSystem.IsLinux() || !HasTool("ldd") || ElfVersionNeeds.SystemLibStdCxxHas(Version))
        {
            return;
        }

        string path = ScratchLibTorchSharp();
        const string missing = "libstdc++.so.6: version `GLIBCXX_3.4.32' not found";
        Assert.Contains(missing, Run("ldd", path));

        Assert.True(ElfVersionNeeds.MarkWeak(path));

        string after = Run("ldd", path);
        Assert.DoesNotContain(missing, after);
        Assert.Contains("libstdc++.so.6: weak version `GLIBCXX_3.4.32' not found", after);
    }

    [Fact]
    public void ANonElfFile_IsRefused_AndLeftAlone()
    {
        string path = Path.Combine(_dir, "notes.so");
        File.WriteAllText(path, "this is not a shared library\n");

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("not an ELF file", error.Message);
        Assert.Equal("this is not a shared library\n", File.ReadAllText(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void A32BitOrBigEndianElfFile_IsRefused()
    {
        byte[] bytes = File.ReadAllBytes(CachedLibTorchSharp());
        foreach ((int at, byte value) in new[] { (4, (byte)1), (5, (byte)2) }) // EI_CLASS ELFCLASS32, EI_DATA ELFDATA2MSB
        {
            byte[] changed = (byte[])bytes.Clone();
            changed[at] = value;
            string path = Path.Combine(_dir, $"odd{at}.so");
            File.WriteAllBytes(path, changed);

            var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path));

            Assert.Contains("not ELF64 little-endian", error.Message);
            Assert.Equal(changed, File.ReadAllBytes(path));
        }
    }

    [Theory]
    [InlineData(20)]
    [InlineData(100_000)]
    public void ATruncatedLibrary_IsRefused_AndLeftAlone(int length)
    {
        string path = Path.Combine(_dir, "truncated.so");
        byte[] head = File.ReadAllBytes(CachedLibTorchSharp())[..length];
        File.WriteAllBytes(path, head);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated", error.Message);
        Assert.Equal(head, File.ReadAllBytes(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void ACorruptStringOffset_IsRefused()
    {
        string path = ScratchLibTorchSharp();
        long flags = FlagsOffset(path, out _);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[flags + 4 + 3] = 0x7f; // vna_name (4 bytes after vna_flags) now points far outside .dynstr
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path));

        Assert.Contains("outside its string table", error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void ALibraryThatDoesNotNeedTheVersion_IsRefused()
    {
        // libc10.so needs versions of libstdc++.so.6, but not GLIBCXX_3.4.32.
        string path = CopyToScratch(CachedPackageFile("libtorch-cpu-linux-x64", LibTorchVersion, "libc10.so"), "libc10.so");
        byte[] before = File.ReadAllBytes(path);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path));

        Assert.Contains(path, error.Message);
        Assert.Contains("does not need GLIBCXX_3.4.32", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void AnUnknownVersion_IsRefused()
    {
        string path = ScratchLibTorchSharp();

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path, "GLIBCXX_3.4.99"));

        Assert.Contains("does not need GLIBCXX_3.4.99", error.Message);
    }

    [Fact]
    public void AVersionWithRelocatedSymbols_IsRefusedAsUnsafe()
    {
        // CXXABI_1.3 carries the __cxxabiv1 type-info vtables and __cxa_* functions that relocations reference:
        // weakening it would only trade a load-time error for a failure at the first use.
        string path = ScratchLibTorchSharp();
        byte[] before = File.ReadAllBytes(path);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkWeak(path, "CXXABI_1.3"));

        Assert.Contains("unsafe", error.Message);
        Assert.Contains("a relocation references _ZTVN10__cxxabiv120__si_class_type_infoE", error.Message); // readelf -r's first
        Assert.Equal(before, File.ReadAllBytes(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void VersionStrings_MatchOnlyWhole()
    {
        byte[] bytes = "xx\0GLIBCXX_3.4.30\0yy"u8.ToArray();

        Assert.True(ElfVersionNeeds.HasWholeString(bytes, "GLIBCXX_3.4.30"));
        Assert.False(ElfVersionNeeds.HasWholeString(bytes, "GLIBCXX_3.4.3"));
        Assert.False(ElfVersionNeeds.HasWholeString(bytes, "GLIBCXX_3.4.300"));
        Assert.False(ElfVersionNeeds.HasWholeString(bytes, "LIBCXX_3.4.30"));
    }

    [Fact]
    public void TheSystemLibStdCxx_IsFoundAndRead()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        Assert.True(ElfVersionNeeds.SystemLibStdCxxHas("GLIBCXX_3.4"));
        Assert.False(ElfVersionNeeds.SystemLibStdCxxHas("GLIBCXX_99.0"));
    }

    [Fact]
    public void TheBuild_WeakenedThisTestProjectsOwnCopy_WhereTheSystemLacksTheVersion_AndItLoads()
    {
        // build/LibTorchSharp.targets patches the output folder of CarriesLibTorch projects, this one included.
        if (!OperatingSystem.IsLinux() || ElfVersionNeeds.SystemLibStdCxxHas(Version))
        {
            return;
        }

        string outputCopy = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(outputCopy), $"{outputCopy} is missing: is CarriesLibTorch set with RuntimeIdentifier linux-x64?");
        Assert.True(ElfVersionNeeds.IsWeak(outputCopy));
        Assert.True(NativeLibrary.TryLoad(outputCopy, out IntPtr handle), $"{outputCopy} does not load");
        Assert.NotEqual(IntPtr.Zero, handle);
    }
}
