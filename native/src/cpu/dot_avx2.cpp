// AVX2 + FMA variant of the kNN block product (8 floats per vector, 4x3 accumulators of 24 columns).
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define CLSA_VBYTES 32
#define CLSA_NV 3
#define CLSA_VARIANT dot_avx2
#define CLSA_VARIANT_NAME "avx2"
#include "dot_tile.inl"
#endif
