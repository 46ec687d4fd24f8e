// The one GEMM core behind every convolution and linear layer of the encoder.
//
// C[M, N] (+)= A[M, K] * B[K, N], with A and B addressed through row and column strides so
// transposed operands need no copy (the packing reads them strided). C is row-major with
// leading dimension ldc. Vectorised (AVX-512 / AVX2+FMA / portable 16-byte vectors, chosen
// at run time) with BLIS-style packing and a register-tiled micro-kernel.
#pragma once
#include <cstdint>

namespace clsa::cpu::nn {

struct GemmArgs {
  int64_t m, n, k;
  const float* a;
  int64_t rsa, csa;  // A(i, p) = a[i * rsa + p * csa]
  const float* b;
  int64_t rsb, csb;  // B(p, j) = b[p * rsb + j * csb]
  float* c;
  int64_t ldc;       // C(i, j) = c[i * ldc + j]
  bool accumulate;   // C += A B instead of C = A B
  // Optional: B already packed as [ceil(n / gemm_nr())][k][gemm_nr()] (column panels, each
  // k-major, padding columns zero); then b, rsb, csb are ignored. Lets im2col write the
  // layout the micro-kernel streams, saving the packing pass.
  const float* b_packed = nullptr;
  // Optional: B's row p is b_rows[p][0 .. n), read in place (no packing); then b, rsb, csb are
  // ignored. Each row must stay readable up to n rounded up to gemm_nr() (the last panel's loads
  // run past n; those columns are dropped). For operands whose rows are slices of another array.
  const float* const* b_rows = nullptr;
};

// Single-threaded: safe to call from inside a parallel_for task.
void gemm(const GemmArgs& g);
// Splits C into blocks over the worker pool. Must not be called from inside a parallel_for task.
void gemm_parallel(const GemmArgs& g);
// C[i][j] (+)= sum_p A[i][p] * B_j[p] with A's rows at a + i*lda and B's rows at brows[j], both
// contiguous along K: no packing, for operands whose rows are slices of another array (the weight
// gradient of a stride-1 conv, where B_j are shifted views of the padded input). Each element is
// a vector-lane dot product reduced in a fixed order: deterministic per variant. Single-threaded.
void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* brows, float* c,
                  int64_t ldc, bool accumulate);
// Name of the variant chosen for this CPU ("avx512", "avx2", "generic").
const char* gemm_variant();
// Column-panel width of the chosen variant (for GemmArgs::b_packed).
int gemm_nr();

// Per-variant entry points (defined in gemm_<variant>.cpp).
#define CLSA_GEMM_VARIANT_API                                                                                     \
  void gemm(const GemmArgs& g);                                                                                    \
  void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* brows, float* c, \
                    int64_t ldc, bool accumulate);                                                                 \
  int nr();
namespace avx512 { CLSA_GEMM_VARIANT_API }
namespace avx2 { CLSA_GEMM_VARIANT_API }
namespace generic { CLSA_GEMM_VARIANT_API }
#undef CLSA_GEMM_VARIANT_API

}  // namespace clsa::cpu::nn
