// AVX-512 variant of the GEMM core: 8 x 32 register tile (16 zmm accumulators).
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define CLSA_VBYTES 64
#define CLSA_MR 8
#define CLSA_NV 2
#define CLSA_VARIANT avx512
#include "gemm_kernel.inl"
#endif
