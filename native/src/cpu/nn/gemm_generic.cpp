// Portable variant of the GEMM core: 16-byte vectors (SSE2 on x86-64, NEON on arm64).
#define CLSA_VBYTES 16
#define CLSA_MR 4
#define CLSA_NV 3
#define CLSA_VARIANT generic
#include "gemm_kernel.inl"
