using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace GanCluster.Gan.Compute;

/// <summary>
/// Which of libtorch's CPU kernels this process uses, settled once before its first network exists (every network,
/// compute thread and entry point calls <see cref="EnsureConfigured"/>):
/// <list type="bullet">
/// <item><b>MKL's AVX-512 sgemm on AMD CPUs.</b> The MKL inside libtorch takes its generic AVX2 path on any AMD CPU;
/// <c>libgancluster_mkl_vendor.so</c> (built from <c>build/mkl_vendor_check.c</c>) answers its vendor check, so that
/// it chooses by the CPU's features (on this project's Zen 5 machine the ring's plain loop is 17–25 % faster; docs/benchmarks). It must be
/// loaded before MKL's first call, hence first thing. <c>GANCLUSTER_MKL_AVX512=0</c> keeps MKL's own answer.</item>
/// <item><b>No oneDNN convolutions.</b> On this project's machines (AMD EPYC, Zen 5) libtorch 2.10's oneDNN returns
/// NaN input gradients from 3×3 convolutions whose channel counts are not a multiple of its block (1 → 8 and 8 → 1
/// channels: 10–20 % of calls; a LAPGAN or DCGAN generator's image layer, a discriminator's input gradient), so
/// convolutions use libtorch's own kernels. <c>GANCLUSTER_ONEDNN=1</c> turns oneDNN back on.</item>
/// </list>
/// </summary>
public static class CpuKernels
{
    public const string MklVariable = "GANCLUSTER_MKL_AVX512";
    public const string OneDnnVariable = "GANCLUSTER_ONEDNN";
    public const string VendorLibrary = "libgancluster_mkl_vendor.so";

    private static readonly Lazy<string> Configured = new(Configure, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Applies the settings once per process; returns what was applied, in one line (for logs and benchmarks).</summary>
    public static string EnsureConfigured() => Configured.Value;

    private static string Configure()
    {
        string mkl = AnswerMklVendorCheck();
        string oneDnn = SetOneDnn(Environment.GetEnvironmentVariable(OneDnnVariable) == "1");
        return $"{mkl}; {oneDnn}";
    }

    private static string AnswerMklVendorCheck()
    {
        if (Environment.GetEnvironmentVariable(MklVariable) == "0") return $"MKL: its own vendor check ({MklVariable}=0)";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return "MKL: its own vendor check (not Linux x64)";
        string path = Path.Combine(AppContext.BaseDirectory, VendorLibrary);
        if (!File.Exists(path)) return $"MKL: its own vendor check (no {VendorLibrary}: built only where a C compiler was found)";
        // RTLD_GLOBAL puts the answer in the global scope, which the loader searches before libtorch_cpu.so's own.
        if (Dlopen(path, RtldNow | RtldGlobal) == IntPtr.Zero) return $"MKL: its own vendor check ({VendorLibrary} did not load)";
        return "MKL: vendor check answered (kernels chosen by CPU features: AVX-512 where present)";
    }

    private static string SetOneDnn(bool enabled)
    {
        get_num_threads(); // loads libtorch through TorchSharp first, so that the name below finds that copy
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", typeof(CpuKernels).Assembly, null, out var torchCpu)
            && !NativeLibrary.TryLoad("libtorch_cpu.so", out torchCpu))
            return "oneDNN: libtorch's default (libtorch_cpu.so not found by name)";
        if (!NativeLibrary.TryGetExport(torchCpu, "_ZN2at13globalContextEv", out var globalContext)
            || !NativeLibrary.TryGetExport(torchCpu, "_ZN2at7Context20setUserEnabledMkldnnEb", out var setEnabled)
            || !NativeLibrary.TryGetExport(torchCpu, "_ZNK2at7Context17userEnabledMkldnnEv", out var getEnabled))
            return "oneDNN: libtorch's default (at::Context not exported)";
        var context = Marshal.GetDelegateForFunctionPointer<GlobalContextFn>(globalContext)();
        Marshal.GetDelegateForFunctionPointer<SetEnabledFn>(setEnabled)(context, enabled);
        bool now = Marshal.GetDelegateForFunctionPointer<GetEnabledFn>(getEnabled)(context);
        return now == enabled
            ? (enabled ? $"oneDNN: on ({OneDnnVariable}=1)" : "oneDNN: off (libtorch's own convolution kernels)")
            : "oneDNN: libtorch's default (the setting did not take)";
    }

    private const int RtldNow = 2, RtldGlobal = 0x100;

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern IntPtr Dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GlobalContextFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetEnabledFn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.U1)]
    private delegate bool GetEnabledFn(IntPtr context);
}
