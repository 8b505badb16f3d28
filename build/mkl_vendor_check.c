/* Answers Intel MKL's CPU-vendor check with "Intel" (build/MklVendorCheck.targets compiles this into
 * libgancluster_mkl_vendor.so next to the program; Grains/Compute/CpuKernels.cs loads it with RTLD_GLOBAL before
 * libtorch makes its first MKL call, so this definition is found before libtorch_cpu.so's own).
 *
 * Why: the MKL inside libtorch takes its generic "zen" AVX2 sgemm path on AMD CPUs whatever they support. With the
 * vendor answered, MKL chooses its kernels by the CPU's feature flags alone: the AVX-512 path on a Zen 4 or Zen 5
 * with AVX-512 (measured on a Zen 5 EPYC core: sgemm 90 → 214 GFLOP/s, the ring-of-8 GAN 265 → 445 steps/s; see
 * BENCHMARKS.md), and still AVX2 on a CPU without it. Set GANCLUSTER_MKL_AVX512=0 to keep MKL's own answer. */
int mkl_serv_intel_cpu_true(void) { return 1; }
