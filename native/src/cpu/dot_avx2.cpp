// AVX2 + FMA variant of the kNN block product (8 floats per vector, 4x2 accumulators).
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define CLSA_VBYTES 32
#define CLSA_NR 2
#define CLSA_VARIANT dot_avx2
#define CLSA_VARIANT_NAME "avx2"
#include "dot_tile.inl"
#endif
