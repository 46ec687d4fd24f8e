// The kNN sweep's block product S = A B^T, written once over GCC vector extensions and compiled
// per instruction set (dot_avx512.cpp, dot_avx2.cpp, dot_generic.cpp define CLSA_VBYTES, CLSA_NV
// and CLSA_VARIANT, then include this file).
//
// B (a tile of train rows) arrives packed transposed, [d, T], so the micro-kernel is the usual
// GEMM shape: MR test rows broadcast against NV vectors of consecutive train columns, MR x NV
// accumulators in registers, no horizontal sums. A is padded to a multiple of MR rows and T is a
// multiple of NV * VW by construction (knn.cpp), so there are no remainders here.
#include <cstring>

#include "knn.h"

namespace clsa::cpu::CLSA_VARIANT {
namespace {

constexpr int VW = CLSA_VBYTES / 4;
constexpr int MR = 4;
constexpr int NV = CLSA_NV;

typedef float vf __attribute__((vector_size(CLSA_VBYTES)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
typedef int vi __attribute__((vector_size(CLSA_VBYTES)));
// Lane 0 shuffled to every lane: one broadcast (vf{} + x would add a real 0.0 first).
inline vf splat(float x) {
  const vf v = {x};
  return __builtin_shuffle(v, vi{});
}

void gemm_tile(const float* a, int64_t rows, const float* bt, int64_t cols, int64_t d, float* s) {
  for (int64_t i = 0; i < rows; i += MR) {
    const float* a0 = a + i * d;
    for (int64_t j = 0; j < cols; j += NV * VW) {
      vf acc[MR][NV];
      for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = vf{};
      const float* b = bt + j;
      for (int64_t c = 0; c < d; ++c, b += cols) {
        vf bv[NV];
        for (int v = 0; v < NV; ++v) bv[v] = loadu(b + v * VW);
        for (int r = 0; r < MR; ++r) {
          const vf av = splat(a0[r * d + c]);
          for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
        }
      }
      for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) storeu(s + (i + r) * cols + j + v * VW, acc[r][v]);
    }
  }
}

}  // namespace

extern const DotKernels dot_kernels_variant;
const DotKernels dot_kernels_variant = {CLSA_VARIANT_NAME, MR, NV * VW, gemm_tile};

}  // namespace clsa::cpu::CLSA_VARIANT
