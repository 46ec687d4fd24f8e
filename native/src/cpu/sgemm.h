// The blocked SGEMM behind the unfused comparison head (benchmark only; not in the C API).
#pragma once
#include <cstdint>

namespace clsa::cpu {

// C[M x N] = A[M x K] B[K x N], row-major with leading dimensions; threaded on the CPU pool.
using SgemmFn = void (*)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc);
// The pieces of the unfused head that depend on the instruction set.
struct UnfusedKernels {
  SgemmFn sgemm;
  float (*row_max)(const float* x, int64_t n);
  // p[i] = 2^(x[i] * scale - shift) for i < n; returns the sum of p (scale > 0, shift >= max).
  float (*row_exp2)(const float* x, int64_t n, float scale, float shift, float* p);
};
// The variant matching the fused head's (same CLSA_CPU_KERNEL override).
const UnfusedKernels& unfused_kernels();

}  // namespace clsa::cpu
