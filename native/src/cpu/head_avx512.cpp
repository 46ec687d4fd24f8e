// AVX-512 variant of the fused head (16 floats per vector, 6x4 register tile of 24 zmm).
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define CLSA_VBYTES 64
#define CLSA_MR 6
#define CLSA_NV 4
#define CLSA_VARIANT avx512
#define CLSA_VARIANT_NAME "avx512"
#include "head_fused.inl"
#endif
