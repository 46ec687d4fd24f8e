// Convolution as GEMM over chunks of whole images: each pool task pads a few images into its own
// buffer and runs single-threaded GEMMs that read the column matrix's rows in place as shifted
// slices of it (see Padded below), so chunks never write the same output (col2im of a chunk
// touches only its own images' rows of dx). Backward = the same products transposed.
#include "conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../threadpool.h"
#include "gemm.h"

namespace clsa::cpu::nn {
namespace {

struct Chunks {
  int64_t images;  // images per chunk
  int64_t count;
};

// bf16 sums the weight gradient over chunks planned as for this many threads, whatever the pool
// has, so its partial sums and their order (and with them the result) are the same for any thread
// count. 4: the build machine's 2 cores get the fp32 plan's chunk sizes or half of them.
constexpr int64_t kBf16PlanThreads = 4;

Chunks plan(const ConvShape& s, int64_t threads) {
  const int64_t pix = s.ho() * s.wo();
  // Sized as for ~2 MB of unfolded columns (kd x pixels floats; tuned when the columns were
  // copied out, measured on the 2-core build machine: 4x smaller or larger chunks were slower);
  // the padded chunk itself is k*k times smaller. At least one image.
  constexpr int64_t kColFloats = int64_t(1) << 19;
  int64_t per = std::max<int64_t>(1, kColFloats / std::max<int64_t>(1, pix * s.kdim()));
  // Enough chunks to keep every worker busy when the batch is small.
  while (per > 1 && (s.n + per - 1) / per < threads * 2) per = (per + 1) / 2;
  return {per, (s.n + per - 1) / per};
}

// dx rows of images n0 .. n0+nb (zeroed first) += fold(dcol).
void col2im(const ConvShape& s, const float* dcol, int64_t n0, int64_t nb, float* dx) {
  const int64_t ho = s.ho(), wo = s.wo(), hw = s.h * s.w, plane = s.n * hw, cols = nb * ho * wo;
  for (int64_t c = 0; c < s.cin; ++c) std::memset(dx + c * plane + n0 * hw, 0, sizeof(float) * size_t(nb * hw));
  for (int64_t c = 0; c < s.cin; ++c)
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const float* row = dcol + ((c * s.k + ky) * s.k + kx) * cols;
        for (int64_t i = 0; i < nb; ++i) {
          float* img = dx + c * plane + (n0 + i) * hw;
          for (int64_t oy = 0; oy < ho; ++oy) {
            const int64_t iy = oy * s.stride - s.pad + ky;
            if (iy < 0 || iy >= s.h) continue;
            const float* in = row + (i * ho + oy) * wo;
            float* out = img + iy * s.w;
            if (s.stride == 1) {
              const int64_t off = kx - s.pad;
              const int64_t lo = std::min<int64_t>(wo, std::max<int64_t>(0, -off));
              const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(wo, s.w - off));
              for (int64_t ox = lo; ox < hi; ++ox) out[ox + off] += in[ox];
            } else {
              for (int64_t ox = 0; ox < wo; ++ox) {
                const int64_t ix = ox * s.stride - s.pad + kx;
                if (ix >= 0 && ix < s.w) out[ix] += in[ox];
              }
            }
          }
        }
      }
}

// Convolutions on a zero-padded copy of the chunk's images ("shifted rows"). Stride 1: on the
// padded grid (HP x WP per image, flattened over the chunk) the input of output (oy, ox) for tap
// (ky, kx) sits at a constant offset ky*WP + kx from the output's own position, so every row of
// the column matrix is a plain slice of the padded input, which the GEMMs read in place
// (GemmArgs::b_rows, gemm_nt_rows) instead of an unfolded copy: im2col's bounds-checked scalar
// loop took ~45% of a width-16 step (perf, 2-core EPYC), and its copy (9x the input) lived in L3
// where the padded chunk fits in L2. Stride s: the padded image is split into s x s phase planes
// (rows and columns of one residue mod s); tap (ky, kx) reads phase (ky % s, kx % s) at offset
// (ky / s, kx / s), a stride-1 access again. The GEMM computes outputs at every grid position, the
// borders included (15% extra at 28x28, 31% at 14x14, 65% at 7x7, 15% at 28 -> 14 stride 2), which
// costs less than the unfolding it replaces even at 7x7; only the valid outputs are kept. (At
// stride 1 neighbouring images and rows share their borders, which shrinks these to 7%, 15%, 31%.)
struct Padded {
  int64_t hp, wp;        // padded image sides
  int64_t ph;            // phases per dimension: min(stride, k) (a 1x1 stride-2 conv reads one)
  int64_t hs, ws, grid;  // phase plane sides (ceil(hp / stride), ...), positions per image
  int64_t q;             // grid positions of the chunk (GEMM columns)
  int64_t plane;         // floats per channel and phase in the buffer (q + slack for the taps)
};

Padded padded_layout(const ConvShape& s, int64_t nb, int64_t nr) {
  Padded p;
  p.hp = s.h + 2 * s.pad;
  p.wp = s.w + 2 * s.pad;
  p.ph = std::min(s.stride, s.k);
  p.hs = (p.hp + s.stride - 1) / s.stride;
  p.ws = (p.wp + s.stride - 1) / s.stride;
  if (s.stride == 1 && s.k >= s.pad + 1) {
    // Neighbours share their zero borders: one run of pad zero columns is the right border of a row
    // and the left border of the next, pad zero rows the bottom of an image and the top of the
    // next. Taps still sit at offsets ky*ws + kx, and every valid output fits its image's block
    // (ho, wo <= h + pad, w + pad when k >= pad + 1). At 7x7 the grid has 64 positions, not 81.
    p.hs = s.h + s.pad;
    p.ws = s.w + s.pad;
  }
  p.grid = p.hs * p.ws;
  p.q = nb * p.grid;
  // Taps of the last panel's columns read up to ((k-1)/s)*(ws+1) + nr - 1 past q: keep them inside.
  p.plane = p.q + (s.k - 1) / s.stride * (p.ws + 1) + nr;
  return p;
}

// xp[c][a][b][i][u][v] = x of image n0+i at (s*u + a - pad, s*v + b - pad), zero outside; slack zeroed.
void pad_images(const ConvShape& s, const Padded& p, const float* x, int64_t n0, int64_t nb, float* xp) {
  const int64_t hw = s.h * s.w, plane = s.n * hw, st = s.stride;
  for (int64_t c = 0; c < s.cin; ++c)
    for (int64_t a = 0; a < p.ph; ++a)
      for (int64_t b = 0; b < p.ph; ++b) {
        float* dst = xp + ((c * p.ph + a) * p.ph + b) * p.plane;
        std::memset(dst, 0, sizeof(float) * size_t(p.plane));
        // columns v with an input column s*v + b - pad inside [0, w)
        const int64_t vlo = std::max<int64_t>(0, (s.pad - b + st - 1) / st);
        const int64_t vhi = std::min<int64_t>(p.ws, (s.w - 1 + s.pad - b) / st + 1);
        for (int64_t i = 0; i < nb; ++i) {
          const float* src = x + c * plane + (n0 + i) * hw;
          for (int64_t u = 0; u < p.hs; ++u) {
            const int64_t y = st * u + a - s.pad;
            if (y < 0 || y >= s.h) continue;
            float* row = dst + i * p.grid + u * p.ws;
            const float* in = src + y * s.w + b - s.pad;
            if (st == 1) {
              if (vhi > vlo) std::memcpy(row + vlo, in + vlo, sizeof(float) * size_t(vhi - vlo));
            } else {
              for (int64_t v = vlo; v < vhi; ++v) row[v] = in[st * v];
            }
          }
        }
      }
}

// Row r = (c*k + ky)*k + kx of the column matrix on the grid: channel c's phase plane of the tap,
// shifted by the tap's offset. (Thread-local table, valid until the next call on this thread.)
// T: float, or bf16_t for the bf16 copy of the padded chunk (same layout).
template <class T>
const T* const* tap_rows(const ConvShape& s, const Padded& p, const T* xp) {
  thread_local std::vector<const T*> rows;
  rows.resize(size_t(s.kdim()));
  const int64_t st = s.stride;
  for (int64_t r = 0; r < s.kdim(); ++r) {
    const int64_t c = r / (s.k * s.k), ky = (r / s.k) % s.k, kx = r % s.k;
    rows[size_t(r)] = xp + ((c * p.ph + ky % st) * p.ph + kx % st) * p.plane + (ky / st) * p.ws + kx / st;
  }
  return rows.data();
}

// dY of the chunk on the grid: dg[co][i*grid + oy*ws + ox], zero where no output is.
void dy_to_grid(const ConvShape& s, const Padded& p, const float* dy, int64_t n0, int64_t nb, float* dg) {
  const int64_t ho = s.ho(), wo = s.wo(), pix = ho * wo, total = s.n * pix;
  std::memset(dg, 0, sizeof(float) * size_t(s.cout * p.q));
  for (int64_t co = 0; co < s.cout; ++co)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t oy = 0; oy < ho; ++oy)
        std::memcpy(dg + co * p.q + i * p.grid + oy * p.ws, dy + co * total + (n0 + i) * pix + oy * wo,
                    sizeof(float) * size_t(wo));
}

thread_local std::vector<float> t_dcol, t_pad, t_grid;
thread_local std::vector<bf16_t> t_pad16, t_grid16;

template <class T>
T* scratch(std::vector<T>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

}  // namespace

void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, Precision prec) {
  const Chunks ch = plan(s, pool_threads());
  const int64_t pix = s.ho() * s.wo(), total = s.n * pix, kd = s.kdim();
  parallel_for(ch.count, [&](int64_t t, int) {
    const int64_t n0 = t * ch.images, nb = std::min(ch.images, s.n - n0);
    const int64_t nr = gemm_nr();
    {
      // The products of im2col + GEMM, summed in the same order: bit-identical outputs.
      const Padded p = padded_layout(s, nb, nr);
      float* xp = scratch(t_pad, s.cin * p.ph * p.ph * p.plane);
      pad_images(s, p, x, n0, nb, xp);
      // Row r of the column matrix is the padded input at the tap's offset: the GEMM reads it in
      // place (the slack after q keeps the last panel's over-reads inside the buffer).
      const float* const* rows = tap_rows<float>(s, p, xp);
      float* grid = scratch(t_grid, s.cout * p.q);
      GemmArgs g{s.cout, p.q, kd, w, kd, 1, nullptr, 0, 0, grid, p.q, false};
      g.b_rows = rows;
      g.precision = prec;  // bf16: the kernel packs (and rounds) the rows it reads here
      gemm(g);
      const int64_t ho = s.ho(), wo = s.wo();
      for (int64_t co = 0; co < s.cout; ++co)
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t oy = 0; oy < ho; ++oy)
            std::memcpy(y + co * total + (n0 + i) * pix + oy * wo, grid + co * p.q + i * p.grid + oy * p.ws,
                        sizeof(float) * size_t(wo));
    }
  });
}

void conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                   Precision prec) {
  const bool bf16 = prec == Precision::bf16;
  // Stride 1: dX is the forward convolution of dY with the flipped, transposed kernel and
  // padding k-1-pad, which writes dx directly (no col2im scatter, no zeroing).
  const bool transposed = dx && s.stride == 1 && s.pad <= s.k - 1;
  const int64_t plan_threads = bf16 ? kBf16PlanThreads : pool_threads();
  const Chunks ch = plan(s, plan_threads);
  const int64_t pix = s.ho() * s.wo(), total = s.n * pix, kd = s.kdim(), wsize = s.cout * kd;
  // Chunks are dealt to a fixed number of lanes, lane l taking chunks l, l+L, ...; each lane
  // sums into its own dW and the lanes are added in order, so the result does not depend on
  // which worker ran what (bit-identical steps after a checkpoint restore).
  const int64_t lanes = std::min<int64_t>(ch.count, plan_threads * 2);
  // Kept between calls (the step's thread): a fresh allocation per call would be page-faulted in.
  thread_local std::vector<float> t_partial;
  float* partial = scratch(t_partial, lanes * wsize);
  std::fill(partial, partial + lanes * wsize, 0.0f);
  parallel_for(lanes, [&](int64_t lane, int) {
    for (int64_t t = lane; t < ch.count; t += lanes) {
      const int64_t n0 = t * ch.images, nb = std::min(ch.images, s.n - n0), cols = nb * pix;
      const int64_t nr = gemm_nr();
      {
        const Padded p = padded_layout(s, nb, nr);
        float* xp = scratch(t_pad, s.cin * p.ph * p.ph * p.plane);
        pad_images(s, p, x, n0, nb, xp);
        float* dg = scratch(t_grid, s.cout * p.q);
        dy_to_grid(s, p, dy, n0, nb, dg);
        // dW[co][r] += dY_grid[co] . (row r of the column matrix), each row a shifted slice of a
        // padded phase plane: no transposed copy of the column matrix (the border positions add zeros).
        if (bf16) {
          // Both operands rounded once per chunk (the rows overlap k*k times in the products).
          const int64_t xn = s.cin * p.ph * p.ph * p.plane, gn = s.cout * p.q;
          bf16_t* xh = scratch(t_pad16, xn);
          bf16_t* gh = scratch(t_grid16, gn);
          to_bf16(xp, xh, xn);
          to_bf16(dg, gh, gn);
          gemm_nt_rows_bf16(s.cout, kd, p.q, gh, p.q, tap_rows<bf16_t>(s, p, xh), partial + lane * wsize, kd, true);
        } else {
          gemm_nt_rows(s.cout, kd, p.q, dg, p.q, tap_rows<float>(s, p, xp), partial + lane * wsize, kd, true);
        }
        if (dx && !transposed) {
          float* dcol = scratch(t_dcol, kd * cols);
          GemmArgs g{kd, cols, s.cout, w, 1, kd, dy + n0 * pix, total, 1, dcol, cols, false};
          g.precision = prec;
          gemm(g);
          col2im(s, dcol, n0, nb, dx);
        }
      }
    }
  });
  for (int64_t l = 0; l < lanes; ++l) {
    const float* p = partial + l * wsize;
    for (int64_t i = 0; i < wsize; ++i) dw[i] += p[i];
  }
  if (transposed) {
    thread_local std::vector<float> t_wt;
    float* wt = scratch(t_wt, wsize);  // wt[ci][co][ky][kx] = w[co][ci][k-1-ky][k-1-kx]
    const int64_t kk = s.k * s.k;
    for (int64_t co = 0; co < s.cout; ++co)
      for (int64_t ci = 0; ci < s.cin; ++ci)
        for (int64_t j = 0; j < kk; ++j) wt[(ci * s.cout + co) * kk + j] = w[(co * s.cin + ci) * kk + (kk - 1 - j)];
    conv_forward({s.cout, s.cin, s.k, 1, s.k - 1 - s.pad, s.n, s.ho(), s.wo()}, dy, wt, dx, prec);
  }
}

}  // namespace clsa::cpu::nn
