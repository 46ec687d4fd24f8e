// A small dense "A B^T" block product for the kNN sweep, written once over GCC vector
// extensions and compiled per instruction set (dot_avx512.cpp, dot_avx2.cpp, dot_generic.cpp
// define CLSA_VBYTES, CLSA_NR and CLSA_VARIANT, then include this file).
//
// Each MR x NR micro-block keeps MR*NR vector accumulators running along d (lane-wise, so no
// reassociation is needed for the compiler to vectorise), then reduces them horizontally once.
#include <cstring>

#include "knn.h"

namespace clsa::cpu::CLSA_VARIANT {
namespace {

constexpr int VW = CLSA_VBYTES / 4;
constexpr int MR = 4;
constexpr int NR = CLSA_NR;

typedef float vf __attribute__((vector_size(CLSA_VBYTES)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float hsum(vf v) {
  float s = 0.0f;
  for (int i = 0; i < VW; ++i) s += v[i];
  return s;
}

template <int R, int T>
inline void block(const float* a, const float* b, int64_t d, float* s, int64_t lds) {
  const int64_t dv = d - d % VW;
  vf acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vf{};
  for (int64_t c = 0; c < dv; c += VW) {
    vf av[R], bv[T];
    for (int r = 0; r < R; ++r) av[r] = loadu(a + r * d + c);
    for (int t = 0; t < T; ++t) bv[t] = loadu(b + t * d + c);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] += av[r] * bv[t];
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float x = hsum(acc[r][t]);
      for (int64_t c = dv; c < d; ++c) x += a[r * d + c] * b[t * d + c];
      s[r * lds + t] = x;
    }
}

void dot_tile(const float* a, int64_t ra, const float* b, int64_t rb, int64_t d, float* s, int64_t lds) {
  int64_t i = 0;
  for (; i + MR <= ra; i += MR) {
    int64_t j = 0;
    for (; j + NR <= rb; j += NR) block<MR, NR>(a + i * d, b + j * d, d, s + i * lds + j, lds);
    for (; j < rb; ++j) block<MR, 1>(a + i * d, b + j * d, d, s + i * lds + j, lds);
  }
  for (; i < ra; ++i) {
    int64_t j = 0;
    for (; j + NR <= rb; j += NR) block<1, NR>(a + i * d, b + j * d, d, s + i * lds + j, lds);
    for (; j < rb; ++j) block<1, 1>(a + i * d, b + j * d, d, s + i * lds + j, lds);
  }
}

}  // namespace

extern const DotKernels dot_kernels_variant;
const DotKernels dot_kernels_variant = {CLSA_VARIANT_NAME, dot_tile};

}  // namespace clsa::cpu::CLSA_VARIANT
