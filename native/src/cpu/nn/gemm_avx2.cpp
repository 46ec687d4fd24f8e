// AVX2 + FMA variant of the GEMM core: 6 x 16 register tile (12 ymm accumulators).
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define CLSA_VBYTES 32
#define CLSA_MR 6
#define CLSA_NV 2
#define CLSA_VARIANT avx2
#include "gemm_kernel.inl"
#endif
