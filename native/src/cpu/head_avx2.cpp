// AVX2 + FMA variant of the fused head (8 floats per vector, 4x3 tile of 12 ymm).
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define CLSA_VBYTES 32
#define CLSA_MR 4
#define CLSA_NV 3
#define CLSA_VARIANT avx2
#define CLSA_VARIANT_NAME "avx2"
#include "head_fused.inl"
#endif
