/* An experiment, not part of any build: libtorch's bundled Intel MKL takes its generic ("def ... zen", AVX2) sgemm
 * path on AMD CPUs. Preloading this answer to MKL's CPU-vendor check makes it take its AVX-512 path instead:
 *
 *   gcc -shared -fPIC -O2 -o /tmp/libmkl_intel_cpu.so benchmarks/mkl_intel_cpu.c
 *   LD_PRELOAD=/tmp/libmkl_intel_cpu.so dotnet run --project Client -c Release -- bench --suite pytorch,roofline
 *
 * It changes which kernels compute every matrix product (so the rounding, and with it every seeded trajectory on
 * this machine), which is why it is a measured note in BENCHMARKS.md and not a default. */
int mkl_serv_intel_cpu_true(void) { return 1; }
