// The fused CLSA head's tile loop, written once over GCC vector extensions and compiled for
// several instruction sets (head_avx512.cpp, head_avx2.cpp, head_generic.cpp define
// CLSA_VBYTES, CLSA_MR, CLSA_NV and CLSA_VARIANT, then include this file).
//
// A split is a contiguous range of tiles of X = [keys; queue]. For each tile it packs X
// twice (transposed for S = Q X^T, padded row-major for O += P X) and then sweeps every query
// row block: S tile, online-softmax update in the log2 domain, O rescale + accumulate. The
// packing is paid once per tile and amortised over all M rows; nothing of size M x (N+K)
// exists at any time.
#include <cmath>
#include <cstring>

#include "head.h"

namespace clsa::cpu::CLSA_VARIANT {
namespace {

constexpr int VW = CLSA_VBYTES / 4;
constexpr int MR = CLSA_MR;
constexpr int NV = CLSA_NV;
constexpr int RB = MR * 8;  // rows per S block

typedef float vf __attribute__((vector_size(CLSA_VBYTES)));
typedef int vi __attribute__((vector_size(CLSA_VBYTES)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return x - vf{}; }  // x - 0 is exact: a plain broadcast (x + 0 is not, for x = -0)

#include "vexp2.inl"

inline float exp2s(float x) {
  vf v = exp2v(splat(x));
  return v[0];
}

inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < VW; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < VW; ++i) s += v[i];
  return s;
}

constexpr int64_t T = kHeadTile;  // a compile-time tile: every S/P offset is an immediate

// S[0..MR)[0..NV*VW) = Q[0..MR)[0..D) . XT[0..D)[0..NV*VW). `qp` is one packed row group
// ([D][MR]: the MR broadcasts of a step are adjacent), `xt` the transposed tile ([D][T]).
inline void gemm_qxt(const float* __restrict qp, int64_t D, const float* __restrict xt, float* __restrict s) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = vf{};
  for (int64_t e = 0; e < D; ++e) {
    vf x[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) x[v] = loadu(xt + e * T + v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const vf b = splat(qp[e * MR + r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += b * x[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) storeu(s + r * T + v * VW, acc[r][v]);
}

// O[r][0..NV*VW) = f[r] * O[r] + sum_c P[r][c] X[c][0..NV*VW), P rows T apart.
inline void gemm_px(const float* __restrict p, const float* __restrict x, int64_t ldx, int64_t cols,
                    float* __restrict o, int64_t ldo, const float* __restrict f) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = vf{};
  for (int64_t c = 0; c < cols; ++c) {
    vf xv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) xv[v] = loadu(x + c * ldx + v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const vf b = splat(p[r * T + c]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += b * xv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const vf fr = splat(f[r]);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) storeu(o + r * ldo + v * VW, loadu(o + r * ldo + v * VW) * fr + acc[r][v]);
  }
}

// Online softmax update of one state row from one row of S: returns the rescale factor of
// the old accumulator and writes P = 2^(z - m_new) for the first `cv` columns.
inline float softmax_row(const float* __restrict s, int64_t cv, float scale, float* m, float* l, float* __restrict p) {
  const vf sv = splat(scale);
  vf vmax = splat(-INFINITY);
  int64_t c = 0;
  for (; c + VW <= cv; c += VW) {
    vf z = loadu(s + c);
    vmax = z > vmax ? z : vmax;
  }
  float mt = hmax(vmax) * scale;  // scale > 0: the max commutes with it
  for (; c < cv; ++c) mt = std::fmax(mt, s[c] * scale);
  const float m_new = std::fmax(*m, mt);
  const float f = exp2s(*m - m_new);  // exp2(-inf) = 0 at the first tile
  vf vsum0 = vf{}, vsum1 = vf{};
  const vf mv = splat(m_new);
  for (c = 0; c + 2 * VW <= cv; c += 2 * VW) {
    vf e0 = exp2v(loadu(s + c) * sv - mv);
    vf e1 = exp2v(loadu(s + c + VW) * sv - mv);
    storeu(p + c, e0);
    storeu(p + c + VW, e1);
    vsum0 += e0;
    vsum1 += e1;
  }
  float sum = hsum(vsum0 + vsum1);
  for (; c < cv; ++c) {
    float e = exp2s(s[c] * scale - m_new);
    p[c] = e;
    sum += e;
  }
  *m = m_new;
  *l = *l * f + sum;
  return f;
}

void run_tiles(const HeadArgs& a, int64_t t0, int64_t t1, int split) {
  const clsa_head_desc& d = *a.desc;
  const HeadPlan& pl = *a.plan;
  const int64_t N = d.n, D = d.d, C = N + d.k, WN = d.w * d.n;
  const int64_t dpad = pl.dpad, sstride = dpad + 2;
  const int64_t rows_pad = pl.rows_pad;
  const bool second = pl.slots > rows_pad;
  const int64_t weak_pad = second ? pl.slots - rows_pad : 0;

  float* buf = a.worker_buf + split * a.worker_floats;
  float* xt = buf;                 // [D][T]
  float* xp = xt + D * T;          // [T][dpad]
  float* sb = xp + T * dpad;       // [RB][T]
  float* pb = sb + RB * T;         // [RB][T]
  float* state = a.state + int64_t(split) * pl.slots * sstride;  // this split's partial states

  for (int64_t tile = t0; tile < t1; ++tile) {
    const int64_t c0 = tile * T, cv = std::min<int64_t>(T, C - c0);
    // Pack the tile: XT (transposed, zero columns past cv), XP (row-major, zero padding).
    for (int64_t c = 0; c < T; ++c) {
      const int64_t j = c0 + c;
      const float* src = c < cv ? (j < N ? a.keys + j * D : a.queue + (j - N) * D) : nullptr;
      float* dst = xp + c * dpad;
      if (src) {
        std::memcpy(dst, src, sizeof(float) * size_t(D));
        for (int64_t e = 0; e < D; ++e) xt[e * T + c] = src[e];
      } else {
        std::memset(dst, 0, sizeof(float) * size_t(D));
        for (int64_t e = 0; e < D; ++e) xt[e * T + c] = 0.0f;
      }
      for (int64_t e = D; e < dpad; ++e) dst[e] = 0.0f;
    }

    for (int64_t r0 = 0; r0 < rows_pad; r0 += RB) {
      const int64_t rb = std::min<int64_t>(RB, rows_pad - r0);
      // Column slices outer: one slice of XT (D x NV*VW) stays in L1 across the row groups.
      for (int64_t c = 0; c < T; c += NV * VW)
        for (int64_t r = 0; r < rb; r += MR) gemm_qxt(a.qpack + (r0 + r) * D, D, xt + c, sb + r * T + c);

      // Own-key logits: row r's key is column r mod N.
      for (int64_t r = 0; r < rb; ++r) {
        const int64_t row = r0 + r;
        if (row >= pl.rows) break;
        const int64_t i = row % N;
        if (i >= c0 && i < c0 + cv) a.own[row] = sb[r * T + (i - c0)];
      }

      // Pass 1: every row at its own temperature (weak: tau, strong: tau2).
      // Pass 2: weak rows again at tau2, when tau2 != tau and there are strong crops.
      for (int pass = 0; pass < (second ? 2 : 1); ++pass) {
        const int64_t rend = pass == 0 ? rb : std::min<int64_t>(rb, weak_pad - r0);
        if (rend <= 0) break;
        float fac[RB];
        for (int64_t r = 0; r < rend; ++r) {
          const int64_t row = r0 + r;
          const int64_t slot = pass == 0 ? row : rows_pad + row;
          const float scale = pass == 0 ? (row < WN ? a.scale1 : a.scale2) : a.scale2;
          float* st = state + slot * sstride;
          fac[r] = softmax_row(sb + r * T, cv, scale, st + dpad, st + dpad + 1, pb + r * T);
        }
        const int64_t slot0 = pass == 0 ? r0 : rows_pad + r0;
        // Feature slices outer: one slice of XP (cv x NV*VW) is reused by every row group.
        for (int64_t e = 0; e < dpad; e += NV * VW)
          for (int64_t r = 0; r < rend; r += MR)
            gemm_px(pb + r * T, xp + e, dpad, cv, state + (slot0 + r) * sstride + e, sstride, fac + r);
      }
    }
  }
}

}  // namespace

extern const HeadKernels kernels;
const HeadKernels kernels = {CLSA_VARIANT_NAME, VW, MR, NV, &run_tiles};

}  // namespace clsa::cpu::CLSA_VARIANT
