// A plain blocked, packed, threaded SGEMM, C = A B (all row-major), written once over GCC
// vector extensions and compiled per instruction set (sgemm_avx512.cpp, sgemm_avx2.cpp,
// sgemm_generic.cpp define CLSA_VBYTES, CLSA_MR, CLSA_NV, CLSA_VARIANT). It exists only for the
// unfused comparison head (head_unfused.cpp) that the benchmark times against the fused one.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "sgemm.h"
#include "threadpool.h"

namespace clsa::cpu::CLSA_VARIANT {
namespace {

constexpr int VW = CLSA_VBYTES / 4;
constexpr int MR = CLSA_MR;
constexpr int NV = CLSA_NV;
constexpr int64_t NR = int64_t(NV) * VW;
constexpr int64_t KC = 256;      // depth of a packed panel (A block + B panel stay in L2)
constexpr int64_t MC = MR * 32;  // rows of A per task
constexpr int64_t NC = NR * 4;   // columns of B per task

typedef float vf __attribute__((vector_size(CLSA_VBYTES)));
typedef int vi __attribute__((vector_size(CLSA_VBYTES)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return x - vf{}; }

#include "vexp2.inl"

// acc[MR][NR] = sum_k Ap[k][0..MR) x Bp[k][0..NR); C tile (+)= acc.
inline void micro(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* __restrict c, int64_t ldc,
                  bool add) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = vf{};
  for (int64_t k = 0; k < kc; ++k) {
    vf b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = loadu(bp + k * NR + v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const vf a = splat(ap[k * MR + r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* p = c + r * ldc + v * VW;
      storeu(p, add ? loadu(p) + acc[r][v] : acc[r][v]);
    }
}

struct Scratch {
  std::vector<float> a, b, edge;
};

void sgemm_impl(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc) {
  const int64_t mblocks = (M + MC - 1) / MC, nblocks = (N + NC - 1) / NC;
  parallel_for(mblocks * nblocks, [&](int64_t task, int) {
    thread_local Scratch s;
    s.a.resize(size_t(MC * KC));
    s.b.resize(size_t(NC * KC));
    s.edge.resize(size_t(MR * NR));
    const int64_t m0 = (task / nblocks) * MC, n0 = (task % nblocks) * NC;
    const int64_t mc = std::min(MC, M - m0), nc = std::min(NC, N - n0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      const int64_t kc = std::min(KC, K - k0);
      // B panel: [nc / NR][kc][NR], zero past the last column.
      for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        float* dst = s.b.data() + (j0 / NR) * kc * NR;
        const int64_t w = std::min(NR, nc - j0);
        for (int64_t k = 0; k < kc; ++k) {
          const float* src = B + (k0 + k) * ldb + n0 + j0;
          std::memcpy(dst + k * NR, src, sizeof(float) * size_t(w));
          for (int64_t j = w; j < NR; ++j) dst[k * NR + j] = 0.0f;
        }
      }
      // A block: [mc / MR][kc][MR], zero past the last row.
      for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        float* dst = s.a.data() + (i0 / MR) * kc * MR;
        for (int r = 0; r < MR; ++r) {
          const bool ok = i0 + r < mc;
          const float* src = A + (m0 + i0 + r) * lda + k0;
          for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = ok ? src[k] : 0.0f;
        }
      }
      const bool add = k0 > 0;
      for (int64_t j0 = 0; j0 < nc; j0 += NR)
        for (int64_t i0 = 0; i0 < mc; i0 += MR) {
          const float* ap = s.a.data() + (i0 / MR) * kc * MR;
          const float* bp = s.b.data() + (j0 / NR) * kc * NR;
          float* c = C + (m0 + i0) * ldc + n0 + j0;
          if (i0 + MR <= mc && j0 + NR <= nc) {
            micro(kc, ap, bp, c, ldc, add);
          } else {  // edge tile: compute into a full scratch tile, copy the valid part
            const int64_t h = std::min<int64_t>(MR, mc - i0), w = std::min(NR, nc - j0);
            float* e = s.edge.data();
            for (int64_t r = 0; r < h; ++r)
              for (int64_t j = 0; j < w; ++j) e[r * NR + j] = add ? c[r * ldc + j] : 0.0f;
            micro(kc, ap, bp, e, NR, true);
            for (int64_t r = 0; r < h; ++r)
              for (int64_t j = 0; j < w; ++j) c[r * ldc + j] = e[r * NR + j];
          }
        }
    }
  });
}

float row_max(const float* x, int64_t n) {
  vf m = splat(-INFINITY);
  int64_t i = 0;
  for (; i + VW <= n; i += VW) {
    vf v = loadu(x + i);
    m = v > m ? v : m;
  }
  float r = -INFINITY;
  for (int j = 0; j < VW; ++j) r = std::max(r, m[j]);
  for (; i < n; ++i) r = std::max(r, x[i]);
  return r;
}

float row_exp2(const float* x, int64_t n, float scale, float shift, float* p) {
  const vf sv = splat(scale), hv = splat(shift);
  vf acc = vf{};
  int64_t i = 0;
  for (; i + VW <= n; i += VW) {
    vf e = exp2v(loadu(x + i) * sv - hv);
    storeu(p + i, e);
    acc += e;
  }
  float s = 0;
  for (int j = 0; j < VW; ++j) s += acc[j];
  for (; i < n; ++i) {
    vf e = exp2v(splat(x[i] * scale - shift));
    p[i] = e[0];
    s += e[0];
  }
  return s;
}

}  // namespace

extern const UnfusedKernels unfused;
const UnfusedKernels unfused = {&sgemm_impl, &row_max, &row_exp2};

}  // namespace clsa::cpu::CLSA_VARIANT
