// AVX-512 variant of the kNN block product (16 floats per vector, 4x3 accumulators of 48 columns).
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define CLSA_VBYTES 64
#define CLSA_NV 3
#define CLSA_VARIANT dot_avx512
#define CLSA_VARIANT_NAME "avx512"
#include "dot_tile.inl"
#endif
