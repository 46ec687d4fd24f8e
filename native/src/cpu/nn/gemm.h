// The one GEMM core behind every convolution and linear layer of the encoder.
//
// C[M, N] (+)= A[M, K] * B[K, N], with A and B addressed through row and column strides so
// transposed operands need no copy (the packing reads them strided). C is row-major with
// leading dimension ldc. Vectorised (AVX-512 / AVX2+FMA / portable 16-byte vectors, chosen
// at run time) with BLIS-style packing and a register-tiled micro-kernel.
#pragma once
#include <cstdint>

namespace clsa::cpu::nn {

// What the products of a GEMM are computed in. fp32: exact fp32 multiply-adds. bf16: A and B
// rounded to bfloat16 (round to nearest even) when packed, multiplied in pairs along K by
// vdpbf16ps with fp32 accumulation; needs gemm_bf16_supported() (AVX512-BF16).
enum class Precision { fp32, bf16 };

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
  // Optional: A's row i is a_rows[i][0 .. k), read in place (no packing); then a, rsa, csa are
  // ignored. For the weight gradient of a convolution, whose A rows are the shifted rows of the
  // padded input: packing them would cost as much as the products when N (the channels) is small.
  const float* const* a_rows = nullptr;
  // bf16: b_packed and a_rows are not accepted (the fp32 kernel's operand forms); b and b_rows are.
  Precision precision = Precision::fp32;
};

// Single-threaded: safe to call from inside a parallel_for task. Precision::bf16 runs the bf16
// variant; without gemm_bf16_supported() (or with b_packed or a_rows) C is set to NaN instead.
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

// bfloat16 as its 16 bits (the upper half of the fp32 pattern).
using bf16_t = uint16_t;
// Whether this CPU (and CLSA_CPU_KERNEL, when set) allows Precision::bf16: AVX512-BF16 is needed
// and there is no emulation, so callers check this first and report the option that asked for it.
bool gemm_bf16_supported();
// nullptr when supported; else the end of "AVX512-BF16, which ...": "this CPU does not have" or
// "is turned off here by CLSA_CPU_KERNEL".
const char* gemm_bf16_unsupported_reason();
// y[i] = x[i] rounded to bf16 (nearest even; subnormals flushed to zero, as vcvtneps2bf16 does).
// Needs gemm_bf16_supported().
void to_bf16(const float* x, bf16_t* y, int64_t count);
// gemm_nt_rows on bf16 operands (both rounded already), fp32 accumulation: C[i][j] (+)= sum_p
// A[i][p] B_j[p]. Rows may start at any element (odd offsets included). Deterministic; single-
// threaded; needs gemm_bf16_supported().
void gemm_nt_rows_bf16(int64_t m, int64_t n, int64_t k, const bf16_t* a, int64_t lda, const bf16_t* const* brows,
                       float* c, int64_t ldc, bool accumulate);

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
// The bf16 variant (gemm_avx512bf16.cpp): gemm() for GemmArgs with Precision::bf16.
namespace avx512bf16 {
void gemm(const GemmArgs& g);
void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const bf16_t* a, int64_t lda, const bf16_t* const* brows, float* c,
                  int64_t ldc, bool accumulate);
void to_bf16(const float* x, bf16_t* y, int64_t count);
}  // namespace avx512bf16

}  // namespace clsa::cpu::nn
