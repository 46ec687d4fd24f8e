// The bf16 variant of the GEMM core (Precision::bf16): A and B are rounded to bfloat16 while they
// are packed, as pairs of adjacent K elements in one 32-bit word (the operand layout of
// vdpbf16ps), and the micro-kernel multiplies a pair per fp32 lane and instruction: twice the
// products of an fp32 FMA, accumulated in fp32. The loop nest and blocking are the fp32
// kernel's (gemm_kernel.inl) with K counted in pairs; the register tile is the AVX-512 one
// (8 x 32). Compiled for AVX512-BF16 through the target pragma, as the other variants are for
// theirs; gemm.cpp calls it only where the CPU has it.
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma")
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"

namespace clsa::cpu::nn::avx512bf16 {
namespace {

constexpr int VW = 16;  // fp32 lanes of a zmm
constexpr int MR = 8;
constexpr int NV = 2;
constexpr int NR = VW * NV;
constexpr int64_t KC = 256;  // even: a pair never straddles two K blocks
constexpr int64_t MC = MR * 16;
constexpr int64_t NC = NR * 64;

inline __m512bh as_bh(__m512i v) { return (__m512bh)v; }
inline __m512i as_si(__m512bh v) { return (__m512i)v; }

// 16 floats (the first `cols`, the rest zero): masked, so a row's tail is never read past.
inline __m512 load_cols(const float* p, int cols) {
  if (cols >= VW) return _mm512_loadu_ps(p);
  if (cols <= 0) return _mm512_setzero_ps();
  return _mm512_maskz_loadu_ps(__mmask16((1u << cols) - 1), p);
}

// The pair word of two bf16 values read from memory, the lower K index in the low half.
inline uint32_t pair_at(const bf16_t* p) {
  uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Scratch of one thread, kept between calls (fresh allocations would be page-faulted in).
struct Scratch {
  std::vector<uint32_t> pa, pb;  // packed A block, packed B panel (pair words)
  std::vector<float> gather;     // strided rows / columns gathered before conversion
  std::vector<bf16_t> row;       // one converted row or column, padded to an even length
};
thread_local Scratch t_scratch;

// kc values of a strided line (stride 1 read in place) -> bf16, zero-padded to an even count.
const bf16_t* line_bf16(const float* src, int64_t stride, int64_t kc, Scratch& s) {
  const float* x = src;
  if (stride != 1) {
    for (int64_t p = 0; p < kc; ++p) s.gather[size_t(p)] = src[p * stride];
    x = s.gather.data();
  }
  to_bf16(x, s.row.data(), kc);
  s.row[size_t(kc)] = 0;
  return s.row.data();
}

// A block (mc x kc) -> panels of MR rows, each pair-major: out[panel][kp][r] = (A[r][2kp], A[r][2kp+1]).
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rsa, int64_t csa, uint32_t* out, Scratch& s) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    const int mr = int(std::min<int64_t>(MR, mc - i0));
    for (int r = 0; r < MR; ++r) {
      if (r >= mr) {
        for (int64_t q = 0; q < kp; ++q) out[q * MR + r] = 0;
        continue;
      }
      const bf16_t* h = line_bf16(a + (i0 + r) * rsa, csa, kc, s);
      for (int64_t q = 0; q < kp; ++q) out[q * MR + r] = pair_at(h + 2 * q);
    }
    out += kp * MR;
  }
}

// B panel (kc x nc) -> panels of NR columns, each pair-major: out[panel][kp][c] = (B[2kp][c], B[2kp+1][c]).
// `row(p)` gives B's row p when rows are contiguous (GemmArgs::b_rows, or csb == 1): two rows are
// converted together and their values interleaved into pairs. Otherwise a column is contiguous
// along K (stride rsb) and converts straight into pairs.
template <class Row>
void pack_b_rows(int64_t kc, int64_t nc, Row row, uint32_t* out) {
  const int64_t kp = (kc + 1) / 2;
  // word 2c <- element c of the first row, word 2c+1 <- element c of the second
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i perm = _mm512_load_si512(kInterleave);
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int nr = int(std::min<int64_t>(NR, nc - j0));
    for (int64_t q = 0; q < kp; ++q) {
      const float* r0 = row(2 * q) + j0;
      const float* r1 = 2 * q + 1 < kc ? row(2 * q + 1) + j0 : nullptr;
      for (int v = 0; v < NV; ++v) {
        const int cols = nr - v * VW;
        const __m512 lo = load_cols(r0 + v * VW, cols);
        const __m512 hi = r1 ? load_cols(r1 + v * VW, cols) : _mm512_setzero_ps();
        const __m512i both = as_si(_mm512_cvtne2ps_pbh(hi, lo));  // words 0..15 from lo, 16..31 from hi
        _mm512_storeu_si512(out + q * NR + v * VW, _mm512_permutexvar_epi16(perm, both));
      }
    }
    out += kp * NR;
  }
}

void pack_b_cols(int64_t kc, int64_t nc, const float* b, int64_t rsb, int64_t csb, uint32_t* out, Scratch& s) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    const int nr = int(std::min<int64_t>(NR, nc - j0));
    for (int c = 0; c < NR; ++c) {
      if (c >= nr) {
        for (int64_t q = 0; q < kp; ++q) out[q * NR + c] = 0;
        continue;
      }
      const bf16_t* h = line_bf16(b + (j0 + c) * csb, rsb, kc, s);
      for (int64_t q = 0; q < kp; ++q) out[q * NR + c] = pair_at(h + 2 * q);
    }
    out += kp * NR;
  }
}

// C tile (mr x nr of MR x NR) (+)= A panel x B panel over kp pairs.
void micro(int64_t kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* c, int64_t ldc, int mr,
           int nr, bool acc_c) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kp; ++q) {
    __m512bh bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = as_bh(_mm512_loadu_si512(b + q * NR + v * VW));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = as_bh(_mm512_set1_epi32(int(a[q * MR + r])));
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        float* dst = c + r * ldc + v * VW;
        _mm512_storeu_ps(dst, acc_c ? _mm512_add_ps(_mm512_loadu_ps(dst), acc[r][v]) : acc[r][v]);
      }
    return;
  }
  alignas(64) float tmp[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm512_store_ps(&tmp[r][v * VW], acc[r][v]);
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) c[r * ldc + j] = acc_c ? c[r * ldc + j] + tmp[r][j] : tmp[r][j];
}

}  // namespace

void to_bf16(const float* x, bf16_t* y, int64_t count) {
  int64_t i = 0;
  for (; i + 2 * VW <= count; i += 2 * VW)
    _mm512_storeu_si512(y + i, as_si(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + VW), _mm512_loadu_ps(x + i))));
  for (; i < count; i += VW) {
    const int left = int(std::min<int64_t>(VW, count - i));
    const __mmask16 m = __mmask16((1u << left) - 1);
    _mm256_mask_storeu_epi16(y + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void gemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    if (!g.accumulate)
      for (int64_t i = 0; i < g.m; ++i) std::memset(g.c + i * g.ldc, 0, sizeof(float) * size_t(g.n));
    return;
  }
  Scratch& s = t_scratch;
  const int64_t kcap = std::min(KC, g.k), kpcap = (kcap + 1) / 2;
  const int64_t mcap = (std::min(MC, g.m) + MR - 1) / MR * MR;
  const int64_t ncap = (std::min(NC, g.n) + NR - 1) / NR * NR;
  if (s.pa.size() < size_t(mcap * kpcap)) s.pa.resize(size_t(mcap * kpcap));
  if (s.pb.size() < size_t(ncap * kpcap)) s.pb.resize(size_t(ncap * kpcap));
  if (s.gather.size() < size_t(kcap)) s.gather.resize(size_t(kcap));
  if (s.row.size() < size_t(kcap + 2)) s.row.resize(size_t(kcap + 2));
  for (int64_t jc = 0; jc < g.n; jc += NC) {
    const int64_t nc = std::min(NC, g.n - jc);
    for (int64_t pc = 0; pc < g.k; pc += KC) {
      const int64_t kc = std::min(KC, g.k - pc), kp = (kc + 1) / 2;
      const bool acc = g.accumulate || pc > 0;
      if (g.b_rows) {
        const float* const* rows = g.b_rows + pc;
        pack_b_rows(kc, nc, [rows, jc](int64_t p) { return rows[p] + jc; }, s.pb.data());
      } else if (g.csb == 1) {
        const float* b = g.b + pc * g.rsb + jc;
        const int64_t rsb = g.rsb;
        pack_b_rows(kc, nc, [b, rsb](int64_t p) { return b + p * rsb; }, s.pb.data());
      } else {
        pack_b_cols(kc, nc, g.b + pc * g.rsb + jc * g.csb, g.rsb, g.csb, s.pb.data(), s);
      }
      for (int64_t ic = 0; ic < g.m; ic += MC) {
        const int64_t mc = std::min(MC, g.m - ic);
        pack_a(mc, kc, g.a + ic * g.rsa + pc * g.csa, g.rsa, g.csa, s.pa.data(), s);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = int(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, mc - ir));
            micro(kp, s.pa.data() + ir * kp, s.pb.data() + jr * kp, g.c + (ic + ir) * g.ldc + jc + jr, g.ldc, mr, nr,
                  acc);
          }
        }
      }
    }
  }
}

namespace {

// gemm_nt_rows: a tile of DM rows of A x DN rows of B, one accumulator per pair of rows.
constexpr int DM = 4, DN = 4;
constexpr int KV = 2 * VW;      // bf16 values per zmm
constexpr int64_t KB = 2048;    // K chunk (the fp32 variant's 1024 floats, in bytes); a multiple of KV

inline float hsum(__m512 v) {
  // Fixed halving tree, the fp32 variant's: the same order for every call.
  alignas(64) float t[VW];
  _mm512_store_ps(t, v);
  for (int w = VW / 2; w > 0; w /= 2)
    for (int i = 0; i < w; ++i) t[i] += t[i + w];
  return t[0];
}

// acc[i][j] += A_i[p0 .. p1) . B_j[p0 .. p1), the tail (p1 - p0 not a multiple of KV) masked to zeros.
inline void dot_tile(const bf16_t* const* ar, const bf16_t* const* br, int64_t p0, int64_t p1, __m512 (&acc)[DM][DN]) {
  int64_t p = p0;
  for (; p + KV <= p1; p += KV) {
    __m512bh av[DM], bv[DN];
#pragma GCC unroll 4
    for (int i = 0; i < DM; ++i) av[i] = as_bh(_mm512_loadu_si512(ar[i] + p));
#pragma GCC unroll 4
    for (int j = 0; j < DN; ++j) bv[j] = as_bh(_mm512_loadu_si512(br[j] + p));
#pragma GCC unroll 4
    for (int i = 0; i < DM; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av[i], bv[j]);
  }
  if (p < p1) {
    const __mmask32 m = __mmask32((uint64_t(1) << (p1 - p)) - 1);
    __m512bh av[DM], bv[DN];
    for (int i = 0; i < DM; ++i) av[i] = as_bh(_mm512_maskz_loadu_epi16(m, ar[i] + p));
    for (int j = 0; j < DN; ++j) bv[j] = as_bh(_mm512_maskz_loadu_epi16(m, br[j] + p));
    for (int i = 0; i < DM; ++i)
      for (int j = 0; j < DN; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av[i], bv[j]);
  }
}

}  // namespace

void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const bf16_t* a, int64_t lda, const bf16_t* const* brows, float* c,
                  int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  // One K chunk (a convolution's chunk of images usually is): each tile's sums go straight to C.
  // Longer K: vector partial sums of every C element kept across chunks, as the fp32 variant.
  const bool chunked = k > KB;
  thread_local std::vector<float> part;
  if (chunked) {
    if (part.size() < size_t(m * n * VW)) part.resize(size_t(m * n * VW));
    std::fill(part.begin(), part.begin() + m * n * VW, 0.0f);
  }
  for (int64_t p0 = 0; p0 < std::max<int64_t>(k, 1); p0 += KB) {
    const int64_t p1 = std::min(k, p0 + KB);
    for (int64_t i0 = 0; i0 < m; i0 += DM) {
      const int dm = int(std::min<int64_t>(DM, m - i0));
      for (int64_t j0 = 0; j0 < n; j0 += DN) {
        const int dn = int(std::min<int64_t>(DN, n - j0));
        const bf16_t* ar[DM];
        const bf16_t* br[DN];
        for (int i = 0; i < DM; ++i) ar[i] = a + (i0 + std::min(i, dm - 1)) * lda;  // edge tiles repeat a row
        for (int j = 0; j < DN; ++j) br[j] = brows[j0 + std::min(j, dn - 1)];
        __m512 acc[DM][DN];
        for (int i = 0; i < DM; ++i)
          for (int j = 0; j < DN; ++j)
            acc[i][j] = chunked && i < dm && j < dn ? _mm512_loadu_ps(&part[size_t(((i0 + i) * n + j0 + j) * VW)])
                                                    : _mm512_setzero_ps();
        dot_tile(ar, br, p0, p1, acc);
        for (int i = 0; i < dm; ++i)
          for (int j = 0; j < dn; ++j) {
            if (chunked) {
              _mm512_storeu_ps(&part[size_t(((i0 + i) * n + j0 + j) * VW)], acc[i][j]);
            } else {
              float* dst = c + (i0 + i) * ldc + j0 + j;
              const float v = hsum(acc[i][j]);
              *dst = accumulate ? *dst + v : v;
            }
          }
      }
    }
  }
  if (!chunked) return;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float v = hsum(_mm512_loadu_ps(&part[size_t((i * n + j) * VW)]));
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v;
    }
}

}  // namespace clsa::cpu::nn::avx512bf16
#endif
