// avx2 variant of the comparison SGEMM (4x3 register tile of 8-float vectors).
#if defined(__x86_64__)
#pragma GCC target("avx2,fma")
#define CLSA_VBYTES 32
#define CLSA_MR 4
#define CLSA_NV 3
#define CLSA_VARIANT sgemm_avx2
#include "sgemm.inl"
#endif
