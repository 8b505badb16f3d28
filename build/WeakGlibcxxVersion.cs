// Marks the version need (Elf64_Vernaux) GLIBCXX_3.4.32 of libLibTorchSharp.so weak (VER_FLG_WEAK), so that
// Debian 12's ld.so (libstdc++ up to GLIBCXX_3.4.30) loads it. TorchSharp 0.107.0 was built with GCC 13; the
// only symbol bound to that version, _ZSt21ios_base_library_initv, is referenced by no relocation.
//
// Compiled twice: by RoslynCodeTaskFactory (build/LibTorchSharp.targets) against netstandard2.0, so keep to its
// APIs and explicit usings; and into the Tests project with GANCLUSTER_TESTS (nullable, warnings as errors).
#nullable enable

using System;
using System.IO;
using System.Text;

namespace GanCluster.Build
{
    /// <summary>Reads and sets the flags of version needs (.gnu.version_r) in ELF64 little-endian files.</summary>
    public static class ElfVersionNeeds
    {
        public const string GlibcxxVersion = "GLIBCXX_3.4.32";
        public const ushort VerFlagWeak = 0x2;
        private const uint ShtRela = 4, ShtRel = 9, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;

        /// <summary>Whether the system's libstdc++.so.6 defines <paramref name="version"/>; false when none is found.</summary>
        public static bool SystemLibStdCxxHas(string version)
        {
            foreach (string dir in new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib" })
            {
                string path = Path.Combine(dir, "libstdc++.so.6");
                if (File.Exists(path)) return HasWholeString(File.ReadAllBytes(path), version);
            }

            return false;
        }

        /// <summary>Whether <paramref name="s"/> occurs NUL-delimited, as names sit in .dynstr ("GLIBCXX_3.4.3" is not in "GLIBCXX_3.4.30").</summary>
        public static bool HasWholeString(byte[] bytes, string s) =>
            Encoding.ASCII.GetString(bytes).IndexOf("\0" + s + "\0", StringComparison.Ordinal) >= 0;

        /// <summary>Whether the need for <paramref name="version"/> in the file carries VER_FLG_WEAK.</summary>
        public static bool IsWeak(string path, string version = GlibcxxVersion)
        {
            byte[] b = File.ReadAllBytes(path);
            return (b[FlagsOffset(path, b, version, out _)] & VerFlagWeak) != 0;
        }

        /// <summary>
        /// Sets VER_FLG_WEAK on the need for <paramref name="version"/>: true when patched, false (file untouched) when
        /// it was weak already. Writes a patched copy beside the file and renames it over, so a hard or symbolic link
        /// into the NuGet cache is replaced, not written through; the copy keeps the permissions and last-write time
        /// (so an incremental build's copy step leaves it alone). Refuses when a relocation references a symbol bound
        /// to the version: weakening would then trade the load error for a failure at the first call.
        /// </summary>
        public static bool MarkWeak(string path, string version = GlibcxxVersion)
        {
            byte[] b = File.ReadAllBytes(path);
            long flags = FlagsOffset(path, b, version, out ushort index);
            if ((b[flags] & VerFlagWeak) != 0) return false;
            string? relocated = Guard(path, version, () => RelocatedSymbol(b, index));
            if (relocated != null) throw Fail(path, version, "unsafe: a relocation references " + relocated + ", which is bound to it");

            string full = Path.GetFullPath(path);
            string temp = Path.Combine(Path.GetDirectoryName(full) ?? ".", "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
            try
            {
                File.Copy(full, temp); // follows a symbolic link, keeps the permission bits
                using (var stream = new FileStream(temp, FileMode.Open, FileAccess.Write))
                {
                    stream.Position = flags;
                    stream.WriteByte((byte)(b[flags] | VerFlagWeak));
                }

                File.SetLastWriteTimeUtc(temp, File.GetLastWriteTimeUtc(full));
                File.Replace(temp, full, null); // rename(2) on Unix: replaces the directory entry only
            }
            finally
            {
                File.Delete(temp); // no-op once renamed
            }

            return true;
        }

        /// <summary>File offset of vna_flags of the Elf64_Vernaux named <paramref name="version"/>; its vna_other in <paramref name="index"/>.</summary>
        public static long FlagsOffset(string path, byte[] b, string version, out ushort index)
        {
            ushort other = 0;
            long offset = Guard(path, version, () =>
            {
                if (b.Length < 4 || b[0] != 0x7f || b[1] != 'E' || b[2] != 'L' || b[3] != 'F') throw new InvalidDataException("not an ELF file (no \\x7fELF magic)");
                if (Rd(b, 4, 1) != 2 || Rd(b, 5, 1) != 1) throw new InvalidDataException("not ELF64 little-endian (EI_CLASS " + b[4] + ", EI_DATA " + b[5] + ")");
                ulong sh = Section(b, ShtGnuVerneed) ?? throw new InvalidDataException("no SHT_GNU_verneed (.gnu.version_r) section");
                ulong strtab = Rd(b, 40, 8) + (Rd(b, sh + 40, 4) * 64); // sh_link: the string table of vn_file, vna_name
                ulong vn = Rd(b, sh + 24, 8), next = 1;
                for (; next != 0; vn += next) // Elf64_Verneed: vn_cnt @2, vn_aux @8, vn_next @12
                {
                    ulong aux = vn + Rd(b, vn + 8, 4);
                    for (ulong n = Rd(b, vn + 2, 2); n > 0; n--, aux += Rd(b, aux + 12, 4)) // Elf64_Vernaux: vna_flags @4, vna_other @6, vna_name @8, vna_next @12
                    {
                        if (Name(b, strtab, Rd(b, aux + 8, 4)) != version) continue;
                        other = (ushort)Rd(b, aux + 6, 2);
                        return (long)aux + 4;
                    }

                    next = Rd(b, vn + 12, 4);
                }

                throw new InvalidDataException("it does not need " + version);
            });
            index = other;
            return offset;
        }

        /// <summary>The first dynamic symbol bound to version index <paramref name="index"/> (by .gnu.version) that a REL/RELA section over .dynsym references, or null.</summary>
        private static string? RelocatedSymbol(byte[] b, ushort index)
        {
            ulong versym = Section(b, ShtGnuVersym) ?? throw new InvalidDataException("no SHT_GNU_versym (.gnu.version) section");
            ulong shoff = Rd(b, 40, 8), dynsymIndex = Rd(b, versym + 40, 4), dynsym = shoff + (dynsymIndex * 64);
            for (ulong i = 0, count = Rd(b, 60, 2); i < count; i++)
            {
                ulong sh = shoff + (i * 64), type = Rd(b, sh + 4, 4), entry = type == ShtRela ? 24UL : 16UL;
                if ((type != ShtRela && type != ShtRel) || Rd(b, sh + 40, 4) != dynsymIndex) continue;
                for (ulong o = Rd(b, sh + 24, 8), end = o + Rd(b, sh + 32, 8); o + entry <= end; o += entry)
                {
                    ulong symbol = Rd(b, o + 8, 8) >> 32; // ELF64_R_SYM(r_info)
                    if (symbol == 0 || (Rd(b, Rd(b, versym + 24, 8) + (symbol * 2), 2) & 0x7fff) != index) continue;
                    return Name(b, shoff + (Rd(b, dynsym + 40, 4) * 64), Rd(b, Rd(b, dynsym + 24, 8) + (symbol * 24), 4));
                }
            }

            return null;
        }

        /// <summary>The header offset of the first section of <paramref name="type"/>, or null.</summary>
        private static ulong? Section(byte[] b, uint type)
        {
            for (ulong i = 0, shoff = Rd(b, 40, 8), count = Rd(b, 60, 2); i < count; i++)
            {
                if (Rd(b, shoff + (i * 64) + 4, 4) == type) return shoff + (i * 64);
            }

            return null;
        }

        /// <summary>The NUL-terminated string at <paramref name="index"/> of the string table whose section header is at <paramref name="sh"/>.</summary>
        private static string Name(byte[] b, ulong sh, ulong index)
        {
            ulong start = Rd(b, sh + 24, 8) + index, end = start;
            if (index >= Rd(b, sh + 32, 8)) throw new InvalidDataException("corrupt: string offset 0x" + index.ToString("x") + " lies outside its string table");
            while (Rd(b, end, 1) != 0) end++;
            return Encoding.ASCII.GetString(b, (int)start, (int)(end - start));
        }

        /// <summary>The little-endian unsigned integer of <paramref name="size"/> bytes at <paramref name="offset"/>, bounds-checked.</summary>
        private static ulong Rd(byte[] b, ulong offset, int size)
        {
            if (offset > (ulong)b.Length || (ulong)b.Length - offset < (ulong)size)
            {
                throw new InvalidDataException("truncated or corrupt: offset 0x" + offset.ToString("x") + " lies beyond the end of the " + b.Length + "-byte file");
            }

            ulong value = 0;
            for (int i = size - 1; i >= 0; i--) value = (value << 8) | b[(int)offset + i];
            return value;
        }

        private static T Guard<T>(string path, string version, Func<T> parse)
        {
            try
            {
                return parse();
            }
            catch (InvalidDataException e)
            {
                throw Fail(path, version, e.Message);
            }
        }

        private static InvalidDataException Fail(string path, string version, string why) =>
            new InvalidDataException(path + ": cannot mark " + version + " weak: " + why + ".");
    }

#if !GANCLUSTER_TESTS
    /// <summary>MSBuild task: marks GLIBCXX_3.4.32 weak in <see cref="LibraryPath"/> where the system's libstdc++ lacks it (or with <see cref="Force"/>).</summary>
    public sealed class WeakenGlibcxxVersion : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public string LibraryPath { get; set; } = string.Empty;

        public bool Force { get; set; }

        public override bool Execute()
        {
            const string version = ElfVersionNeeds.GlibcxxVersion;
            if (!Force && ElfVersionNeeds.SystemLibStdCxxHas(version))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "{0}: the system's libstdc++ has {1}; left as it is.", LibraryPath, version);
                return true;
            }

            try
            {
                bool patched = ElfVersionNeeds.MarkWeak(LibraryPath, version);
                Log.LogMessage(
                    patched ? Microsoft.Build.Framework.MessageImportance.High : Microsoft.Build.Framework.MessageImportance.Low,
                    patched ? "{0}: marked its need for {1} weak." : "{0}: its need for {1} is already weak.",
                    LibraryPath,
                    version);
                return true;
            }
            catch (Exception e) when (e is InvalidDataException || e is IOException || e is UnauthorizedAccessException)
            {
                Log.LogError("{0}", e.Message);
                return false;
            }
        }
    }
#endif
}
