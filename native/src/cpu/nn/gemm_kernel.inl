// The GEMM loop nest, written once over GCC vector extensions and compiled per instruction
// set (gemm_avx512.cpp, gemm_avx2.cpp, gemm_generic.cpp define CLSA_VBYTES, CLSA_MR, CLSA_NV and
// CLSA_VARIANT first). Blocking: B is packed in KC x NC panels (L3), A in MC x KC blocks (L2),
// the micro-kernel keeps an MR x (NV vectors) tile of C in registers over KC steps.
#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace clsa::cpu::nn::CLSA_VARIANT {
namespace {

constexpr int VW = CLSA_VBYTES / 4;
constexpr int MR = CLSA_MR;
constexpr int NV = CLSA_NV;
constexpr int NR = VW * NV;
constexpr int64_t KC = 256;
constexpr int64_t MC = MR * 16;
constexpr int64_t NC = NR * 64;

typedef float vf __attribute__((vector_size(CLSA_VBYTES)));

inline vf loadu(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

// A block (mc x kc) -> panels of MR rows, each stored k-major: out[panel][k][r].
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rsa, int64_t csa, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int mr = int(std::min<int64_t>(MR, mc - i0));
    if (csa == 1) {
      for (int r = 0; r < MR; ++r) {
        if (r < mr) {
          const float* src = a + (i0 + r) * rsa;
          for (int64_t p = 0; p < kc; ++p) out[p * MR + r] = src[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) out[p * MR + r] = 0.0f;
        }
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + i0 * rsa + p * csa;
        for (int r = 0; r < MR; ++r) out[p * MR + r] = r < mr ? src[r * rsa] : 0.0f;
      }
    }
    out += kc * MR;
  }
}

// B panel (kc x nc) -> panels of NR columns, each stored k-major: out[panel][k][c].
void pack_b(int64_t kc, int64_t nc, const float* b, int64_t rsb, int64_t csb, float* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int nr = int(std::min<int64_t>(NR, nc - j0));
    if (csb == 1) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + p * rsb + j0;
        float* dst = out + p * NR;
        std::memcpy(dst, src, sizeof(float) * size_t(nr));
        for (int c = nr; c < NR; ++c) dst[c] = 0.0f;
      }
    } else {
      for (int c = 0; c < NR; ++c) {
        if (c < nr) {
          const float* src = b + (j0 + c) * csb;
          for (int64_t p = 0; p < kc; ++p) out[p * NR + c] = src[p * rsb];
        } else {
          for (int64_t p = 0; p < kc; ++p) out[p * NR + c] = 0.0f;
        }
      }
    }
    out += kc * NR;
  }
}

// The MRT x (NVT vectors) tile of C (+)= A B over kc steps. a(p, r): A's element for tile row r at
// step p (a packed panel's, or a row's read in place); brow(p): the tile's columns of B's row p (a
// packed panel's row, or a slice of a row given by pointer). MRT < MR and NVT < NV are the short
// and narrow tiles of the last row and column panels: a GEMM with N = 16 on AVX-512 (the weight
// gradient of a 16-channel convolution) would otherwise spend half its multiply-adds on padding
// columns, one with M = 9 (the stem's, K = 1 x 3 x 3) 7/16 of them on padding rows. Every element's
// sum runs over p in the same order whatever the tile, so the tile changes no bit of the result.
template <int MRT, int NVT, class AEl, class BRow>
inline void micro_t(int64_t kc, AEl a, BRow brow, float* c, int64_t ldc, int mr, int nr, bool acc_c) {
  vf acc[MRT][NVT];
#pragma GCC unroll 8
  for (int r = 0; r < MRT; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVT; ++v) acc[r][v] = vf{};
  for (int64_t p = 0; p < kc; ++p) {
    vf bv[NVT];
#pragma GCC unroll 4
    for (int v = 0; v < NVT; ++v) bv[v] = loadu(brow(p) + v * VW);
#pragma GCC unroll 8
    for (int r = 0; r < MRT; ++r) {
      const vf av = a(p, r) - vf{};  // x - 0 folds to a plain broadcast (x + 0 does not: -0)
#pragma GCC unroll 4
      for (int v = 0; v < NVT; ++v) acc[r][v] += av * bv[v];
    }
  }
  if (mr == MRT && nr == NVT * VW) {
#pragma GCC unroll 8
    for (int r = 0; r < MRT; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NVT; ++v) {
        float* dst = c + r * ldc + v * VW;
        storeu(dst, acc_c ? loadu(dst) + acc[r][v] : acc[r][v]);
      }
    return;
  }
  float tmp[MRT][NVT * VW];
  for (int r = 0; r < MRT; ++r)
    for (int v = 0; v < NVT; ++v) storeu(&tmp[r][v * VW], acc[r][v]);
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) c[r * ldc + j] = acc_c ? c[r * ldc + j] + tmp[r][j] : tmp[r][j];
}

// The tile with the fewest vectors that holds nr columns, and the fewest rows among 1, 2, 4, ...
// (then MR) that holds mr.
template <int MRT, int NVT = 1, class AEl, class BRow>
inline void micro_cols(int64_t kc, AEl a, BRow brow, float* c, int64_t ldc, int mr, int nr, bool acc_c) {
  if constexpr (NVT < NV) {
    if (nr > NVT * VW) return micro_cols<MRT, NVT + 1>(kc, a, brow, c, ldc, mr, nr, acc_c);
  }
  micro_t<MRT, NVT>(kc, a, brow, c, ldc, mr, nr, acc_c);
}
template <int MRT = 1, class AEl, class BRow>
inline void micro_any(int64_t kc, AEl a, BRow brow, float* c, int64_t ldc, int mr, int nr, bool acc_c) {
  if constexpr (MRT < MR) {
    if (mr > MRT) return micro_any<std::min(2 * MRT, MR)>(kc, a, brow, c, ldc, mr, nr, acc_c);
  }
  micro_cols<MRT>(kc, a, brow, c, ldc, mr, nr, acc_c);
}

// A operands of a tile: a packed panel (pack_a), or MR rows read in place (GemmArgs::a_rows; rows
// past the edge repeat the last valid one, and their results are dropped).
struct PackedA {
  const float* __restrict a;
  float operator()(int64_t p, int r) const { return a[p * MR + r]; }
};
struct RowsA {
  const float* rows[MR];
  float operator()(int64_t p, int r) const { return rows[r][p]; }
};

template <class AEl>
void micro(int64_t kc, AEl a, const float* __restrict b, float* c, int64_t ldc, int mr, int nr, bool acc_c) {
  micro_any(kc, a, [b](int64_t p) { return b + p * NR; }, c, ldc, mr, nr, acc_c);
}

template <class AEl>
void micro_rows(int64_t kc, AEl a, const float* const* rows, int64_t j0, float* c, int64_t ldc, int mr, int nr,
                bool acc_c) {
  micro_any(kc, a, [rows, j0](int64_t p) { return rows[p] + j0; }, c, ldc, mr, nr, acc_c);
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    if (!g.accumulate)
      for (int64_t i = 0; i < g.m; ++i) std::memset(g.c + i * g.ldc, 0, sizeof(float) * size_t(g.n));
    return;
  }
  thread_local std::vector<float> pa, pb;
  const int64_t kcap = std::min(KC, g.k);
  const int64_t mcap = (std::min(MC, g.m) + MR - 1) / MR * MR;
  const int64_t ncap = (std::min(NC, g.n) + NR - 1) / NR * NR;
  if (!g.a_rows && pa.size() < size_t(mcap * kcap)) pa.resize(size_t(mcap * kcap));
  const bool packed = g.b_packed || g.b_rows;
  if (!packed && pb.size() < size_t(ncap * kcap)) pb.resize(size_t(ncap * kcap));
  for (int64_t jc = 0; jc < g.n; jc += NC) {
    const int64_t nc = std::min(NC, g.n - jc);
    for (int64_t pc = 0; pc < g.k; pc += KC) {
      const int64_t kc = std::min(KC, g.k - pc);
      const bool acc = g.accumulate || pc > 0;
      if (!packed) pack_b(kc, nc, g.b + pc * g.rsb + jc * g.csb, g.rsb, g.csb, pb.data());
      for (int64_t ic = 0; ic < g.m; ic += MC) {
        const int64_t mc = std::min(MC, g.m - ic);
        if (!g.a_rows) pack_a(mc, kc, g.a + ic * g.rsa + pc * g.csa, g.rsa, g.csa, pa.data());
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = int(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, mc - ir));
            float* cp = g.c + (ic + ir) * g.ldc + jc + jr;
            auto tile = [&](auto a) {
              if (g.b_rows) return micro_rows(kc, a, g.b_rows + pc, jc + jr, cp, g.ldc, mr, nr, acc);
              const float* bp =
                  g.b_packed ? g.b_packed + ((jc + jr) / NR) * g.k * NR + pc * NR : pb.data() + jr * kc;
              micro(kc, a, bp, cp, g.ldc, mr, nr, acc);
            };
            if (g.a_rows) {
              RowsA a;
              for (int r = 0; r < MR; ++r) a.rows[r] = g.a_rows[ic + ir + std::min(r, mr - 1)] + pc;
              tile(a);
            } else {
              tile(PackedA{pa.data() + ir * kc});
            }
          }
        }
      }
    }
  }
}

namespace {

// gemm_nt_rows: tile of DM rows of A x DN rows of B, one vector accumulator per pair.
constexpr int DM = 4, DN = 4;
constexpr int64_t KB = 1024;  // K chunk: a chunk of every row involved stays in L2

inline float hsum(vf v) {
  // Fixed halving tree: the same order for every call.
  float t[VW];
  storeu(t, v);
  for (int w = VW / 2; w > 0; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}

}  // namespace

void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* brows, float* c,
                  int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  const int64_t kv = k / VW * VW;  // the vector part of K; the rest is summed in scalar
  // Vector partial sums of every C element, kept across K chunks (a horizontal sum per chunk would
  // cost as much as the chunk's multiply-adds at these shapes).
  thread_local std::vector<float> part;
  if (part.size() < size_t(m * n * VW)) part.resize(size_t(m * n * VW));
  std::fill(part.begin(), part.begin() + m * n * VW, 0.0f);
  for (int64_t p0 = 0; p0 < kv; p0 += KB) {
    const int64_t p1 = std::min(kv, p0 + KB);
    for (int64_t i0 = 0; i0 < m; i0 += DM) {
      const int dm = int(std::min<int64_t>(DM, m - i0));
      for (int64_t j0 = 0; j0 < n; j0 += DN) {
        const int dn = int(std::min<int64_t>(DN, n - j0));
        const float* ar[DM];
        const float* br[DN];
        for (int i = 0; i < DM; ++i) ar[i] = a + (i0 + std::min(i, dm - 1)) * lda;  // edge tiles repeat a row
        for (int j = 0; j < DN; ++j) br[j] = brows[j0 + std::min(j, dn - 1)];
        vf acc[DM][DN];
        for (int i = 0; i < DM; ++i)
          for (int j = 0; j < DN; ++j) acc[i][j] = (i < dm && j < dn) ? loadu(&part[((i0 + i) * n + j0 + j) * VW]) : vf{};
        for (int64_t p = p0; p < p1; p += VW) {
          vf av[DM], bv[DN];
#pragma GCC unroll 4
          for (int i = 0; i < DM; ++i) av[i] = loadu(ar[i] + p);
#pragma GCC unroll 4
          for (int j = 0; j < DN; ++j) bv[j] = loadu(br[j] + p);
#pragma GCC unroll 4
          for (int i = 0; i < DM; ++i)
#pragma GCC unroll 4
            for (int j = 0; j < DN; ++j) acc[i][j] += av[i] * bv[j];
        }
        for (int i = 0; i < dm; ++i)
          for (int j = 0; j < dn; ++j) storeu(&part[((i0 + i) * n + j0 + j) * VW], acc[i][j]);
      }
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float v = hsum(loadu(&part[(i * n + j) * VW]));
      const float* ai = a + i * lda;
      const float* bj = brows[j];
      for (int64_t p = kv; p < k; ++p) v += ai[p] * bj[p];
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v;
    }
}

int nr() { return NR; }

}  // namespace clsa::cpu::nn::CLSA_VARIANT
