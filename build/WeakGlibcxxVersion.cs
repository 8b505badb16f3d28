// Marks one version requirement (Elf64_Vernaux) of an ELF shared library as weak (VER_FLG_WEAK),
// so that the dynamic loader accepts the library on a system whose libstdc++ lacks that version.
//
// Why: TorchSharp 0.107.0's libLibTorchSharp.so was built with GCC 13 and needs GLIBCXX_3.4.32 from
// libstdc++.so.6, whose only user is the symbol _ZSt21ios_base_library_initv, which no relocation
// references. Debian 12's libstdc++ stops at GLIBCXX_3.4.30, so without the weak flag every torch
// call fails with "version `GLIBCXX_3.4.32' not found". With the flag, ld.so only notes the missing
// version and loads the library.
//
// This one file is compiled twice:
//  * by MSBuild's RoslynCodeTaskFactory (build/LibTorchSharp.targets), against netstandard2.0 plus
//    the MSBuild reference assemblies: keep to netstandard2.0 APIs (no Span, BinaryPrimitives,
//    File.Move(overwrite), records or init accessors) and keep usings explicit;
//  * by the Tests project with GANCLUSTER_TESTS defined (no MSBuild references there), which
//    builds with nullable enabled and warnings as errors: keep it warning-free.
#nullable enable

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace GanCluster.Build
{
    /// <summary>What <see cref="ElfVersionNeeds.MarkVersionWeak"/> did.</summary>
    public enum PatchResult
    {
        /// <summary>The entry already carried VER_FLG_WEAK; the file was not touched.</summary>
        AlreadyWeak,

        /// <summary>VER_FLG_WEAK was set; the file was replaced by a patched copy.</summary>
        Patched,
    }

    /// <summary>One Elf64_Vernaux entry, located in the file.</summary>
    public sealed class VersionNeed
    {
        public VersionNeed(
            string libraryName,
            string version,
            long flagsOffset,
            ushort flags,
            uint hash,
            ushort versionIndex,
            IReadOnlyList<string> symbols,
            IReadOnlyList<string> relocatedSymbols)
        {
            LibraryName = libraryName;
            Version = version;
            FlagsOffset = flagsOffset;
            Flags = flags;
            Hash = hash;
            VersionIndex = versionIndex;
            Symbols = symbols;
            RelocatedSymbols = relocatedSymbols;
        }

        /// <summary>The needed file (vn_file), e.g. libstdc++.so.6.</summary>
        public string LibraryName { get; }

        /// <summary>The needed version (vna_name), e.g. GLIBCXX_3.4.32.</summary>
        public string Version { get; }

        /// <summary>File offset of the two-byte vna_flags field.</summary>
        public long FlagsOffset { get; }

        /// <summary>vna_flags as found.</summary>
        public ushort Flags { get; }

        /// <summary>vna_hash as found (equals the ELF hash of <see cref="Version"/>).</summary>
        public uint Hash { get; }

        /// <summary>vna_other: the index that .gnu.version gives the symbols bound to this version.</summary>
        public ushort VersionIndex { get; }

        /// <summary>Dynamic symbols that carry this version.</summary>
        public IReadOnlyList<string> Symbols { get; }

        /// <summary>Those of <see cref="Symbols"/> that a relocation references (weakening is unsafe then).</summary>
        public IReadOnlyList<string> RelocatedSymbols { get; }

        public bool IsWeak => (Flags & ElfVersionNeeds.VerFlagWeak) != 0;
    }

    /// <summary>
    /// Reads and patches the version needs (.gnu.version_r, SHT_GNU_verneed) of ELF64 little-endian files.
    /// Pure logic: no MSBuild types, so the tests compile it directly.
    /// </summary>
    public static class ElfVersionNeeds
    {
        public const string DefaultLibraryName = "libstdc++.so.6";
        public const string DefaultVersion = "GLIBCXX_3.4.32";

        /// <summary>VER_FLG_WEAK, in vna_flags.</summary>
        public const ushort VerFlagWeak = 0x2;

        private const uint ShtStrtab = 3;
        private const uint ShtRela = 4;
        private const uint ShtDynamic = 6;
        private const uint ShtNobits = 8;
        private const uint ShtRel = 9;
        private const uint ShtDynsym = 11;
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const uint ShtGnuVersym = 0x6fffffff;
        private const uint PtLoad = 1;
        private const long DtNull = 0;
        private const long DtVerneed = 0x6ffffffe;
        private const long DtVerneednum = 0x6fffffff;
        private const int ElfHeaderSize = 64;
        private const int SectionHeaderSize = 64;
        private const int ProgramHeaderSize = 56;
        private const int VerneedSize = 16;
        private const int VernauxSize = 16;
        private const int MaxEntries = 1 << 16;

        /// <summary>Where a Linux system keeps libstdc++.so.6, in the order the search tries them.</summary>
        public static readonly IReadOnlyList<string> LibStdCxxDirectories = new[]
        {
            "/usr/lib/x86_64-linux-gnu",
            "/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/lib64",
            "/usr/lib",
            "/lib",
        };

        /// <summary>The first libstdc++.so.6 found in <see cref="LibStdCxxDirectories"/>, or null.</summary>
        public static string? FindSystemLibStdCxx()
        {
            foreach (string directory in LibStdCxxDirectories)
            {
                string candidate = Path.Combine(directory, DefaultLibraryName);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            return null;
        }

        /// <summary>
        /// Whether the system's libstdc++.so.6 defines <paramref name="version"/> (e.g. GLIBCXX_3.4.32).
        /// False when no libstdc++.so.6 is found at all (then nothing can load a C++ library anyway).
        /// </summary>
        public static bool SystemLibStdCxxHas(string version)
        {
            string? path = FindSystemLibStdCxx();
            return path != null && FileContainsVersionString(path, version);
        }

        /// <summary>
        /// Whether the file holds <paramref name="version"/> as a whole NUL-delimited string, the way
        /// version names sit in .dynstr: "GLIBCXX_3.4.3" does not match inside "GLIBCXX_3.4.30".
        /// </summary>
        public static bool FileContainsVersionString(string path, string version)
        {
            if (string.IsNullOrEmpty(version))
            {
                throw new ArgumentException("The version must not be empty.", nameof(version));
            }

            byte[] needle = Encoding.ASCII.GetBytes("\0" + version + "\0");
            return IndexOf(File.ReadAllBytes(path), needle) >= 0;
        }

        /// <summary>The System V ELF hash (the one in vna_hash and DT_HASH).</summary>
        public static uint ElfHash(string name)
        {
            uint h = 0;
            foreach (byte c in Encoding.UTF8.GetBytes(name))
            {
                h = (h << 4) + c;
                uint g = h & 0xf0000000;
                if (g != 0)
                {
                    h ^= g >> 24;
                }

                h &= ~g;
            }

            return h;
        }

        /// <summary>
        /// Finds the version need <paramref name="version"/> of <paramref name="libraryName"/> in the ELF file.
        /// Throws <see cref="InvalidDataException"/> naming the file and what was unexpected when the file is
        /// not an ELF64 little-endian shared object with exactly one such entry, consistent with its dynamic section.
        /// </summary>
        public static VersionNeed Inspect(string elfPath, string libraryName, string version)
        {
            return Inspect(elfPath, File.ReadAllBytes(elfPath), libraryName, version);
        }

        /// <summary>
        /// Sets VER_FLG_WEAK on the version need <paramref name="version"/> of <paramref name="libraryName"/>
        /// (a change to the two bytes of that entry's vna_flags, nothing else). Idempotent: returns
        /// <see cref="PatchResult.AlreadyWeak"/> without touching the file when the flag is set already.
        /// The file is never written in place: a patched copy is written next to it and renamed over it, so a
        /// hard link or symbolic link into the NuGet cache is replaced in the output folder, not modified.
        /// The copy keeps the original's permissions and last-write time, so an incremental build's copy
        /// step (which compares size and time) leaves the patched file alone.
        /// </summary>
        public static PatchResult MarkVersionWeak(string elfPath, string libraryName, string version)
        {
            byte[] bytes = File.ReadAllBytes(elfPath);
            VersionNeed need = Inspect(elfPath, bytes, libraryName, version);
            if (need.IsWeak)
            {
                return PatchResult.AlreadyWeak;
            }

            if (need.RelocatedSymbols.Count > 0)
            {
                throw Unexpected(
                    elfPath,
                    "marking " + version + " of " + libraryName + " weak would be unsafe: relocations reference "
                    + "symbols bound to it (" + string.Join(", ", need.RelocatedSymbols) + "), which would then "
                    + "fail at load or call time on a system without that version");
            }

            ushort patched = (ushort)(need.Flags | VerFlagWeak);
            string fullPath = Path.GetFullPath(elfPath);
            string directory = Path.GetDirectoryName(fullPath) ?? ".";
            string temp = Path.Combine(directory, "." + Path.GetFileName(fullPath) + "." + Guid.NewGuid().ToString("N") + ".tmp");
            DateTime lastWrite = File.GetLastWriteTimeUtc(fullPath);
            try
            {
                // File.Copy follows a symbolic link and keeps the permission bits (the .so is executable).
                File.Copy(fullPath, temp);
                using (var stream = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    // Re-check the copy, in case the file changed between the read and the copy.
                    var check = new byte[2];
                    stream.Position = need.FlagsOffset;
                    if (stream.Read(check, 0, 2) != 2 || ReadU16(check, 0) != need.Flags)
                    {
                        throw Unexpected(elfPath, "the file changed while it was being patched");
                    }

                    stream.Position = need.FlagsOffset;
                    stream.Write(new[] { (byte)(patched & 0xff), (byte)(patched >> 8) }, 0, 2);
                }

                File.SetLastWriteTimeUtc(temp, lastWrite);

                // On Unix File.Replace is rename(2): atomic, and it replaces the directory entry only.
                File.Replace(temp, fullPath, null);
            }
            finally
            {
                if (File.Exists(temp))
                {
                    File.Delete(temp);
                }
            }

            return PatchResult.Patched;
        }

        private static VersionNeed Inspect(string path, byte[] b, string libraryName, string version)
        {
            if (string.IsNullOrEmpty(libraryName))
            {
                throw new ArgumentException("The library name must not be empty.", nameof(libraryName));
            }

            if (string.IsNullOrEmpty(version))
            {
                throw new ArgumentException("The version must not be empty.", nameof(version));
            }

            // --- ELF header ---
            if (b.Length < 4 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            {
                throw Unexpected(path, "not an ELF file (no \\x7fELF magic)");
            }

            if (b.Length < ElfHeaderSize)
            {
                throw Unexpected(path, "truncated: " + b.Length + " bytes, shorter than an ELF64 header");
            }

            if (b[4] != 2)
            {
                throw Unexpected(path, "not ELF64 (EI_CLASS " + b[4] + ")");
            }

            if (b[5] != 1)
            {
                throw Unexpected(path, "not little-endian (EI_DATA " + b[5] + ")");
            }

            if (b[6] != 1)
            {
                throw Unexpected(path, "unknown ELF version (EI_VERSION " + b[6] + ")");
            }

            ushort type = ReadU16(b, 16);
            if (type != 3)
            {
                throw Unexpected(path, "not a shared object (e_type " + type + ", expected ET_DYN 3)");
            }

            ulong phoff = ReadU64(b, 32);
            ulong shoff = ReadU64(b, 40);
            ushort phentsize = ReadU16(b, 54);
            ushort phnum = ReadU16(b, 56);
            ushort shentsize = ReadU16(b, 58);
            ulong shnum = ReadU16(b, 60);
            uint shstrndx = ReadU16(b, 62);
            if (shoff == 0)
            {
                throw Unexpected(path, "no section headers (e_shoff 0)");
            }

            if (shentsize != SectionHeaderSize)
            {
                throw Unexpected(path, "e_shentsize " + shentsize + ", expected " + SectionHeaderSize);
            }

            CheckRange(path, b, shoff, SectionHeaderSize, "section header 0");
            if (shnum == 0)
            {
                // Extended numbering: the count lives in section 0's sh_size.
                shnum = ReadU64(b, (int)shoff + 32);
            }

            if (shstrndx == 0xffff)
            {
                // SHN_XINDEX: the index lives in section 0's sh_link.
                shstrndx = ReadU32(b, (int)shoff + 40);
            }

            if (shnum > MaxEntries)
            {
                throw Unexpected(path, "implausible section count " + shnum);
            }

            CheckRange(path, b, shoff, shnum * SectionHeaderSize, "section header table");
            var sections = new Section[shnum];
            for (ulong i = 0; i < shnum; i++)
            {
                sections[i] = new Section(b, (int)(shoff + (i * SectionHeaderSize)));
            }

            if (shstrndx == 0 || shstrndx >= shnum || sections[shstrndx].Type != ShtStrtab)
            {
                throw Unexpected(path, "bad section name string table index " + shstrndx);
            }

            Section shstrtab = sections[shstrndx];
            CheckSectionData(path, b, shstrtab, "section name string table");

            // --- .gnu.version_r ---
            int verneedIndex = -1;
            for (int i = 0; i < sections.Length; i++)
            {
                if (sections[i].Type != ShtGnuVerneed)
                {
                    continue;
                }

                if (verneedIndex >= 0)
                {
                    throw Unexpected(path, "more than one SHT_GNU_verneed section");
                }

                verneedIndex = i;
            }

            if (verneedIndex < 0)
            {
                throw Unexpected(path, "no SHT_GNU_verneed (.gnu.version_r) section: it needs no symbol versions");
            }

            Section verneed = sections[verneedIndex];
            string verneedName = ReadString(path, b, shstrtab, verneed.Name, "section name");
            if (verneedName != ".gnu.version_r")
            {
                throw Unexpected(path, "the SHT_GNU_verneed section is named '" + verneedName + "', expected '.gnu.version_r'");
            }

            CheckSectionData(path, b, verneed, ".gnu.version_r");
            if (verneed.Link == 0 || verneed.Link >= shnum || sections[verneed.Link].Type != ShtStrtab)
            {
                throw Unexpected(path, ".gnu.version_r's sh_link " + verneed.Link + " is not a string table");
            }

            Section dynstr = sections[verneed.Link];
            CheckSectionData(path, b, dynstr, "the string table of .gnu.version_r");
            CheckLoadedAtAddress(path, b, phoff, phentsize, phnum, verneed);
            CheckDynamicSection(path, b, sections, verneed);

            // --- walk Elf64_Verneed / Elf64_Vernaux ---
            if (verneed.Info == 0 || verneed.Info > MaxEntries)
            {
                throw Unexpected(path, ".gnu.version_r has an implausible entry count (sh_info " + verneed.Info + ")");
            }

            var knownFiles = new List<string>();
            long matchOffset = -1;
            int fileMatches = 0;
            int versionMatches = 0;
            ulong vnOffset = 0;
            for (uint n = 0; n < verneed.Info; n++)
            {
                if (vnOffset + VerneedSize > verneed.Size)
                {
                    throw Unexpected(path, "Elf64_Verneed entry " + n + " at 0x" + vnOffset.ToString("x") + " runs past the end of .gnu.version_r");
                }

                int vn = (int)(verneed.Offset + vnOffset);
                ushort vnVersion = ReadU16(b, vn);
                ushort vnCnt = ReadU16(b, vn + 2);
                uint vnFile = ReadU32(b, vn + 4);
                uint vnAux = ReadU32(b, vn + 8);
                uint vnNext = ReadU32(b, vn + 12);
                if (vnVersion != 1)
                {
                    throw Unexpected(path, "Elf64_Verneed entry " + n + " has vn_version " + vnVersion + ", expected 1");
                }

                string file = ReadString(path, b, dynstr, vnFile, "vn_file");
                knownFiles.Add(file);
                bool isLibrary = file == libraryName;
                if (isLibrary)
                {
                    fileMatches++;
                }

                ulong auxOffset = vnOffset + vnAux;
                for (uint a = 0; a < vnCnt; a++)
                {
                    if (auxOffset + VernauxSize > verneed.Size)
                    {
                        throw Unexpected(path, "an Elf64_Vernaux entry of " + file + " runs past the end of .gnu.version_r");
                    }

                    int aux = (int)(verneed.Offset + auxOffset);
                    uint vnaHash = ReadU32(b, aux);
                    uint vnaName = ReadU32(b, aux + 8);
                    uint vnaNext = ReadU32(b, aux + 12);
                    string name = ReadString(path, b, dynstr, vnaName, "vna_name");
                    if (isLibrary && name == version)
                    {
                        versionMatches++;
                        uint expected = ElfHash(name);
                        if (vnaHash != expected)
                        {
                            throw Unexpected(
                                path,
                                "the vna_hash of " + version + " under " + libraryName + " is 0x" + vnaHash.ToString("x8")
                                + ", but the ELF hash of that name is 0x" + expected.ToString("x8"));
                        }

                        matchOffset = aux;
                    }

                    if (a + 1 < vnCnt && vnaNext == 0)
                    {
                        throw Unexpected(path, "the Elf64_Vernaux chain of " + file + " ends after " + (a + 1) + " of " + vnCnt + " entries");
                    }

                    auxOffset += vnaNext;
                }

                if (n + 1 < verneed.Info && vnNext == 0)
                {
                    throw Unexpected(path, "the Elf64_Verneed chain ends after " + (n + 1) + " of " + verneed.Info + " entries");
                }

                vnOffset += vnNext;
            }

            if (fileMatches == 0)
            {
                throw Unexpected(path, "it needs no versions of " + libraryName + " (version needs are for: " + string.Join(", ", knownFiles) + ")");
            }

            if (fileMatches > 1)
            {
                throw Unexpected(path, ".gnu.version_r lists " + libraryName + " " + fileMatches + " times");
            }

            if (versionMatches == 0)
            {
                throw Unexpected(path, "it does not need " + version + " of " + libraryName);
            }

            if (versionMatches > 1)
            {
                throw Unexpected(path, ".gnu.version_r lists " + version + " of " + libraryName + " " + versionMatches + " times");
            }

            ushort flags = ReadU16(b, (int)matchOffset + 4);
            ushort other = ReadU16(b, (int)matchOffset + 6);
            List<string> symbols;
            List<string> relocated;
            FindSymbolsOfVersion(path, b, sections, other, out symbols, out relocated);
            return new VersionNeed(libraryName, version, matchOffset + 4, flags, ReadU32(b, (int)matchOffset), other, symbols, relocated);
        }

        /// <summary>
        /// The loader reads version needs through DT_VERNEED (a virtual address), not through the section
        /// headers: check that both name the same bytes, so the patch lands where ld.so looks.
        /// </summary>
        private static void CheckLoadedAtAddress(string path, byte[] b, ulong phoff, ushort phentsize, ushort phnum, Section verneed)
        {
            if (phoff == 0 || phnum == 0)
            {
                throw Unexpected(path, "no program headers");
            }

            if (phentsize != ProgramHeaderSize)
            {
                throw Unexpected(path, "e_phentsize " + phentsize + ", expected " + ProgramHeaderSize);
            }

            CheckRange(path, b, phoff, (ulong)phnum * ProgramHeaderSize, "program header table");
            for (int i = 0; i < phnum; i++)
            {
                int ph = (int)phoff + (i * ProgramHeaderSize);
                if (ReadU32(b, ph) != PtLoad)
                {
                    continue;
                }

                ulong pOffset = ReadU64(b, ph + 8);
                ulong pVaddr = ReadU64(b, ph + 16);
                ulong pFilesz = ReadU64(b, ph + 32);
                if (verneed.Address >= pVaddr && verneed.Address + verneed.Size <= pVaddr + pFilesz)
                {
                    if (pOffset + (verneed.Address - pVaddr) != verneed.Offset)
                    {
                        throw Unexpected(path, ".gnu.version_r's file offset does not match the PT_LOAD segment that maps its address");
                    }

                    return;
                }
            }

            throw Unexpected(path, "no PT_LOAD segment maps .gnu.version_r");
        }

        private static void CheckDynamicSection(string path, byte[] b, Section[] sections, Section verneed)
        {
            Section? dynamic = null;
            foreach (Section s in sections)
            {
                if (s.Type == ShtDynamic)
                {
                    dynamic = s;
                    break;
                }
            }

            if (dynamic == null)
            {
                throw Unexpected(path, "no .dynamic section");
            }

            CheckSectionData(path, b, dynamic, ".dynamic");
            ulong? address = null;
            ulong? count = null;
            for (ulong o = 0; o + 16 <= dynamic.Size; o += 16)
            {
                int d = (int)(dynamic.Offset + o);
                long tag = (long)ReadU64(b, d);
                ulong value = ReadU64(b, d + 8);
                if (tag == DtNull)
                {
                    break;
                }

                if (tag == DtVerneed)
                {
                    address = value;
                }
                else if (tag == DtVerneednum)
                {
                    count = value;
                }
            }

            if (address != verneed.Address)
            {
                throw Unexpected(path, "DT_VERNEED does not point at .gnu.version_r");
            }

            if (count != verneed.Info)
            {
                throw Unexpected(path, "DT_VERNEEDNUM does not match .gnu.version_r's entry count");
            }
        }

        /// <summary>
        /// The dynamic symbols bound to version index <paramref name="versionIndex"/> (.gnu.version), and
        /// those of them that a relocation (SHT_RELA / SHT_REL over .dynsym) references.
        /// </summary>
        private static void FindSymbolsOfVersion(
            string path,
            byte[] b,
            Section[] sections,
            ushort versionIndex,
            out List<string> symbols,
            out List<string> relocated)
        {
            symbols = new List<string>();
            relocated = new List<string>();
            int versymIndex = -1;
            for (int i = 0; i < sections.Length; i++)
            {
                if (sections[i].Type == ShtGnuVersym)
                {
                    versymIndex = i;
                    break;
                }
            }

            if (versymIndex < 0)
            {
                throw Unexpected(path, "no SHT_GNU_versym (.gnu.version) section");
            }

            Section versym = sections[versymIndex];
            CheckSectionData(path, b, versym, ".gnu.version");
            if (versym.Link == 0 || versym.Link >= (ulong)sections.Length || sections[versym.Link].Type != ShtDynsym)
            {
                throw Unexpected(path, ".gnu.version's sh_link is not the dynamic symbol table");
            }

            uint dynsymIndex = versym.Link;
            Section dynsym = sections[dynsymIndex];
            CheckSectionData(path, b, dynsym, ".dynsym");
            if (dynsym.EntrySize != 24 || dynsym.Link == 0 || dynsym.Link >= (ulong)sections.Length)
            {
                throw Unexpected(path, "unexpected .dynsym layout");
            }

            Section symbolNames = sections[dynsym.Link];
            CheckSectionData(path, b, symbolNames, "the string table of .dynsym");
            ulong symbolCount = dynsym.Size / 24;
            if (versym.Size / 2 != symbolCount)
            {
                throw Unexpected(path, ".gnu.version has " + (versym.Size / 2) + " entries for " + symbolCount + " symbols");
            }

            var bound = new HashSet<ulong>();
            for (ulong i = 0; i < symbolCount; i++)
            {
                if ((ReadU16(b, (int)(versym.Offset + (i * 2))) & 0x7fff) == versionIndex)
                {
                    bound.Add(i);
                    uint nameOffset = ReadU32(b, (int)(dynsym.Offset + (i * 24)));
                    symbols.Add(ReadString(path, b, symbolNames, nameOffset, "symbol name"));
                }
            }

            if (bound.Count == 0)
            {
                return;
            }

            var seen = new HashSet<ulong>();
            foreach (Section s in sections)
            {
                if ((s.Type != ShtRela && s.Type != ShtRel) || s.Link != dynsymIndex)
                {
                    continue;
                }

                CheckSectionData(path, b, s, "a relocation section");
                ulong entrySize = s.Type == ShtRela ? 24UL : 16UL;
                for (ulong o = 0; o + entrySize <= s.Size; o += entrySize)
                {
                    ulong symbol = ReadU64(b, (int)(s.Offset + o + 8)) >> 32;
                    if (bound.Contains(symbol) && seen.Add(symbol))
                    {
                        uint nameOffset = ReadU32(b, (int)(dynsym.Offset + (symbol * 24)));
                        relocated.Add(ReadString(path, b, symbolNames, nameOffset, "symbol name"));
                    }
                }
            }
        }

        private static InvalidDataException Unexpected(string path, string what)
        {
            return new InvalidDataException(path + ": cannot mark a symbol version weak: " + what + ".");
        }

        private static void CheckRange(string path, byte[] b, ulong offset, ulong size, string what)
        {
            if (offset > (ulong)b.Length || size > (ulong)b.Length - offset)
            {
                throw Unexpected(
                    path,
                    "truncated or corrupt: " + what + " at 0x" + offset.ToString("x") + " (+0x" + size.ToString("x")
                    + " bytes) lies beyond the end of the " + b.Length + "-byte file");
            }
        }

        private static void CheckSectionData(string path, byte[] b, Section s, string what)
        {
            if (s.Type == ShtNobits)
            {
                throw Unexpected(path, what + " has no data in the file (SHT_NOBITS)");
            }

            CheckRange(path, b, s.Offset, s.Size, what);
        }

        private static string ReadString(string path, byte[] b, Section table, uint offset, string what)
        {
            if (offset >= table.Size)
            {
                throw Unexpected(path, what + " offset 0x" + offset.ToString("x") + " lies outside its string table");
            }

            int start = (int)(table.Offset + offset);
            int end = (int)(table.Offset + table.Size);
            int i = start;
            while (i < end && b[i] != 0)
            {
                i++;
            }

            if (i == end)
            {
                throw Unexpected(path, what + " at 0x" + offset.ToString("x") + " is not NUL-terminated within its string table");
            }

            return Encoding.UTF8.GetString(b, start, i - start);
        }

        private static int IndexOf(byte[] haystack, byte[] needle)
        {
            int last = haystack.Length - needle.Length;
            for (int i = 0; i <= last; i++)
            {
                if (haystack[i] != needle[0])
                {
                    continue;
                }

                int j = 1;
                while (j < needle.Length && haystack[i + j] == needle[j])
                {
                    j++;
                }

                if (j == needle.Length)
                {
                    return i;
                }
            }

            return -1;
        }

        private static ushort ReadU16(byte[] b, int o)
        {
            return (ushort)(b[o] | (b[o + 1] << 8));
        }

        private static uint ReadU32(byte[] b, int o)
        {
            return (uint)(b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24));
        }

        private static ulong ReadU64(byte[] b, int o)
        {
            return ReadU32(b, o) | ((ulong)ReadU32(b, o + 4) << 32);
        }

        /// <summary>An Elf64_Shdr, the fields used here.</summary>
        private sealed class Section
        {
            public Section(byte[] b, int o)
            {
                Name = ReadU32(b, o);
                Type = ReadU32(b, o + 4);
                Address = ReadU64(b, o + 16);
                Offset = ReadU64(b, o + 24);
                Size = ReadU64(b, o + 32);
                Link = ReadU32(b, o + 40);
                Info = ReadU32(b, o + 44);
                EntrySize = ReadU64(b, o + 56);
            }

            public uint Name { get; }

            public uint Type { get; }

            public ulong Address { get; }

            public ulong Offset { get; }

            public ulong Size { get; }

            public uint Link { get; }

            public uint Info { get; }

            public ulong EntrySize { get; }
        }
    }

#if !GANCLUSTER_TESTS
    /// <summary>
    /// MSBuild task: marks <see cref="Version"/> of <see cref="LibraryName"/> weak in <see cref="LibraryPath"/>
    /// when the system's libstdc++ lacks that version (or always, with <see cref="Force"/>).
    /// Fails the build with a clear error when the library's structure is not the expected one.
    /// </summary>
    public sealed class WeakenGlibcxxVersion : Microsoft.Build.Utilities.Task
    {
        /// <summary>The ELF file to patch (a copy in an output or publish folder, never the NuGet cache).</summary>
        [Microsoft.Build.Framework.Required]
        public string LibraryPath { get; set; } = string.Empty;

        /// <summary>The needed library whose version need is weakened.</summary>
        public string LibraryName { get; set; } = ElfVersionNeeds.DefaultLibraryName;

        /// <summary>The version to mark weak.</summary>
        public string Version { get; set; } = ElfVersionNeeds.DefaultVersion;

        /// <summary>Patch even where the system's libstdc++ has <see cref="Version"/> (e.g. to publish for an older system).</summary>
        public bool Force { get; set; }

        /// <summary>Patched, AlreadyWeak, or NotNeeded (the system has the version and Force is false).</summary>
        [Microsoft.Build.Framework.Output]
        public string Result { get; set; } = string.Empty;

        public override bool Execute()
        {
            try
            {
                bool systemHasVersion = ElfVersionNeeds.SystemLibStdCxxHas(Version);
                if (!Force && systemHasVersion)
                {
                    Result = "NotNeeded";
                    Log.LogMessage(
                        Microsoft.Build.Framework.MessageImportance.Low,
                        "{0}: the system's {1} ({2}) has {3}; left as it is.",
                        LibraryPath,
                        LibraryName,
                        ElfVersionNeeds.FindSystemLibStdCxx(),
                        Version);
                    return true;
                }

                if (!File.Exists(LibraryPath))
                {
                    Log.LogError("{0}: not found, cannot mark {1} of {2} weak.", LibraryPath, Version, LibraryName);
                    return false;
                }

                VersionNeed need = ElfVersionNeeds.Inspect(LibraryPath, LibraryName, Version);
                PatchResult result = ElfVersionNeeds.MarkVersionWeak(LibraryPath, LibraryName, Version);
                Result = result.ToString();
                if (result == PatchResult.Patched)
                {
                    Log.LogMessage(
                        Microsoft.Build.Framework.MessageImportance.High,
                        "{0}: marked its need for {1} of {2} weak (vna_flags at 0x{3:x}: 0x{4:x} -> 0x{5:x}; symbols bound to it: {6}; "
                        + "none relocated). {7}",
                        LibraryPath,
                        Version,
                        LibraryName,
                        need.FlagsOffset,
                        need.Flags,
                        need.Flags | ElfVersionNeeds.VerFlagWeak,
                        need.Symbols.Count == 0 ? "none" : string.Join(", ", need.Symbols),
                        systemHasVersion ? "Forced: the system's libstdc++ has it." : "The system's libstdc++ lacks it.");
                }
                else
                {
                    Log.LogMessage(
                        Microsoft.Build.Framework.MessageImportance.Normal,
                        "{0}: its need for {1} of {2} is already weak.",
                        LibraryPath,
                        Version,
                        LibraryName);
                }

                return true;
            }
            catch (Exception e) when (e is InvalidDataException || e is IOException || e is UnauthorizedAccessException || e is ArgumentException)
            {
                Log.LogError("{0}", e.Message);
                return false;
            }
        }
    }
#endif
}
