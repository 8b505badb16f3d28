using System.Diagnostics;
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

    private const string LibStdCxx = ElfVersionNeeds.DefaultLibraryName;
    private const string Version = ElfVersionNeeds.DefaultVersion;

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

    private static void Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed: {error}");
    }

    private void AssertNoTempFilesLeft()
    {
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void TheCachedLibraryNeedsTheVersionStrongly_ForOneUnrelocatedSymbol()
    {
        VersionNeed need = ElfVersionNeeds.Inspect(CachedLibTorchSharp(), LibStdCxx, Version);

        Assert.False(need.IsWeak);
        Assert.Equal(0, need.Flags);
        Assert.Equal(0x0297f842u, need.Hash);
        Assert.Equal(ElfVersionNeeds.ElfHash(Version), need.Hash);
        Assert.Equal(new[] { "_ZSt21ios_base_library_initv" }, need.Symbols);
        Assert.Empty(need.RelocatedSymbols);
    }

    [Fact]
    public void Patching_SetsTheWeakFlag_AndChangesOnlyThatVnaFlagsField()
    {
        string path = ScratchLibTorchSharp();
        byte[] before = File.ReadAllBytes(path);
        VersionNeed need = ElfVersionNeeds.Inspect(path, LibStdCxx, Version);

        Assert.Equal(PatchResult.Patched, ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

        byte[] after = File.ReadAllBytes(path);
        List<int> changed = DifferingOffsets(before, after);
        Assert.NotEmpty(changed);
        Assert.All(changed, offset => Assert.InRange((long)offset, need.FlagsOffset, need.FlagsOffset + 1));
        int flagsAfter = after[need.FlagsOffset] | (after[need.FlagsOffset + 1] << 8);
        Assert.Equal(need.Flags | ElfVersionNeeds.VerFlagWeak, flagsAfter);

        VersionNeed patched = ElfVersionNeeds.Inspect(path, LibStdCxx, Version);
        Assert.True(patched.IsWeak);
        Assert.Equal(need.FlagsOffset, patched.FlagsOffset);
        Assert.Equal(need.Hash, patched.Hash);
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void PatchingAgain_IsANoOp_AndLeavesTheFileByteIdentical()
    {
        string path = ScratchLibTorchSharp();
        Assert.Equal(PatchResult.Patched, ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));
        byte[] once = File.ReadAllBytes(path);
        DateTime writtenOnce = File.GetLastWriteTimeUtc(path);

        Assert.Equal(PatchResult.AlreadyWeak, ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

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

        Assert.Equal(PatchResult.Patched, ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

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

        Assert.Equal(PatchResult.Patched, ElfVersionNeeds.MarkVersionWeak(linked, LibStdCxx, Version));

        Assert.Equal(before, File.ReadAllBytes(original));
        Assert.False(ElfVersionNeeds.Inspect(original, LibStdCxx, Version).IsWeak);
        Assert.True(ElfVersionNeeds.Inspect(linked, LibStdCxx, Version).IsWeak);
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

        Assert.Equal(PatchResult.Patched, ElfVersionNeeds.MarkVersionWeak(link, LibStdCxx, Version));

        Assert.Null(new FileInfo(link).LinkTarget);
        Assert.Equal(before, File.ReadAllBytes(target));
        Assert.True(ElfVersionNeeds.Inspect(link, LibStdCxx, Version).IsWeak);
    }

    [Fact]
    public void ANonElfFile_IsRefused_AndLeftAlone()
    {
        string path = Path.Combine(_dir, "notes.so");
        File.WriteAllText(path, "this is not a shared library\n");

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

        Assert.Contains(path, error.Message);
        Assert.Contains("not an ELF file", error.Message);
        Assert.Equal("this is not a shared library\n", File.ReadAllText(path));
        AssertNoTempFilesLeft();
    }

    [Theory]
    [InlineData(20)]
    [InlineData(100_000)]
    public void ATruncatedLibrary_IsRefused_AndLeftAlone(int length)
    {
        string path = Path.Combine(_dir, "truncated.so");
        byte[] head = File.ReadAllBytes(CachedLibTorchSharp())[..length];
        File.WriteAllBytes(path, head);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

        Assert.Contains(path, error.Message);
        Assert.Contains("truncated", error.Message);
        Assert.Equal(head, File.ReadAllBytes(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void ALibraryThatDoesNotNeedTheVersion_IsRefused()
    {
        // libc10.so needs versions of libstdc++.so.6, but not GLIBCXX_3.4.32.
        string path = CopyToScratch(CachedPackageFile("libtorch-cpu-linux-x64", LibTorchVersion, "libc10.so"), "libc10.so");
        byte[] before = File.ReadAllBytes(path);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

        Assert.Contains(path, error.Message);
        Assert.Contains("does not need GLIBCXX_3.4.32 of libstdc++.so.6", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        AssertNoTempFilesLeft();
    }

    [Fact]
    public void AnUnknownVersionOrLibrary_IsRefused()
    {
        string path = ScratchLibTorchSharp();

        var noVersion = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, "GLIBCXX_3.4.99"));
        Assert.Contains("does not need GLIBCXX_3.4.99 of libstdc++.so.6", noVersion.Message);

        var noLibrary = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, "libfoo.so.1", Version));
        Assert.Contains("needs no versions of libfoo.so.1", noLibrary.Message);
        Assert.Contains("libc.so.6", noLibrary.Message);
    }

    [Fact]
    public void AVersionWithRelocatedSymbols_IsRefusedAsUnsafe()
    {
        // CXXABI_1.3 carries __cxa_* functions that the library calls through its PLT: weakening it would only
        // trade a load-time error for a crash at the first call.
        string path = ScratchLibTorchSharp();
        byte[] before = File.ReadAllBytes(path);
        Assert.NotEmpty(ElfVersionNeeds.Inspect(path, LibStdCxx, "CXXABI_1.3").RelocatedSymbols);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, "CXXABI_1.3"));

        Assert.Contains("unsafe", error.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void AWrongVnaHash_IsRefused()
    {
        string path = ScratchLibTorchSharp();
        VersionNeed need = ElfVersionNeeds.Inspect(path, LibStdCxx, Version);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[need.FlagsOffset - 4] ^= 0x01; // vna_hash is the 4 bytes before vna_flags
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.MarkVersionWeak(path, LibStdCxx, Version));

        Assert.Contains("vna_hash", error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData("", 0x00000000u)]
    [InlineData("main", 0x000737feu)]
    [InlineData("printf", 0x077905a6u)]
    [InlineData("GLIBCXX_3.4.32", 0x0297f842u)]
    public void ElfHash_MatchesTheSystemVHash(string name, uint expected)
    {
        Assert.Equal(expected, ElfVersionNeeds.ElfHash(name));
    }

    [Fact]
    public void VersionStrings_MatchOnlyWhole()
    {
        string path = Path.Combine(_dir, "strings.bin");
        File.WriteAllBytes(path, "xx\0GLIBCXX_3.4.30\0yy"u8.ToArray());

        Assert.True(ElfVersionNeeds.FileContainsVersionString(path, "GLIBCXX_3.4.30"));
        Assert.False(ElfVersionNeeds.FileContainsVersionString(path, "GLIBCXX_3.4.3"));
        Assert.False(ElfVersionNeeds.FileContainsVersionString(path, "GLIBCXX_3.4.300"));
        Assert.False(ElfVersionNeeds.FileContainsVersionString(path, "LIBCXX_3.4.30"));
    }

    [Fact]
    public void TheSystemLibStdCxx_IsFoundAndRead()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        Assert.NotNull(ElfVersionNeeds.FindSystemLibStdCxx());
        Assert.True(ElfVersionNeeds.SystemLibStdCxxHas("GLIBCXX_3.4"));
        Assert.False(ElfVersionNeeds.SystemLibStdCxxHas("GLIBCXX_99.0"));
    }

    [Fact]
    public void TheBuild_WeakenedThisTestProjectsOwnCopy_WhereTheSystemLacksTheVersion()
    {
        // build/LibTorchSharp.targets patches the output folder of CarriesLibTorch projects, this one included.
        if (!OperatingSystem.IsLinux() || ElfVersionNeeds.SystemLibStdCxxHas(Version))
        {
            return;
        }

        string outputCopy = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(outputCopy), $"{outputCopy} is missing: is CarriesLibTorch set with RuntimeIdentifier linux-x64?");
        Assert.True(ElfVersionNeeds.Inspect(outputCopy, LibStdCxx, Version).IsWeak);
    }
}
