// avx512 variant of the comparison SGEMM (6x4 register tile of 16-float vectors).
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define CLSA_VBYTES 64
#define CLSA_MR 6
#define CLSA_NV 4
#define CLSA_VARIANT sgemm_avx512
#include "sgemm.inl"
#endif
