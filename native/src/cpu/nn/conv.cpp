// Convolution as im2col + GEMM over chunks of whole images: each pool task unfolds a few
// images into its own column buffer and runs one single-threaded GEMM, so the unfolded
// matrix stays cache-sized and chunks never write the same output (col2im of a chunk touches
// only its own images' rows of dx). Backward = the same two GEMMs transposed.
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

Chunks plan(const ConvShape& s) {
  const int64_t pix = s.ho() * s.wo();
  // ~2 MB of unfolded columns (kd x pixels floats) per chunk keeps col in L2 while the GEMM
  // streams it (measured on the 2-core build machine: 4x smaller or larger chunks were slower);
  // at least one image.
  constexpr int64_t kColFloats = int64_t(1) << 19;
  int64_t per = std::max<int64_t>(1, kColFloats / std::max<int64_t>(1, pix * s.kdim()));
  const int64_t threads = pool_threads();
  // Enough chunks to keep every worker busy when the batch is small.
  while (per > 1 && (s.n + per - 1) / per < threads * 2) per = (per + 1) / 2;
  return {per, (s.n + per - 1) / per};
}

// Unfolds images n0 .. n0+nb: for every output row (i, oy) and every row r = (c*k + ky)*k + kx of
// the column matrix, hands the run of wo values (columns base .. base+wo, base = (i*ho + oy)*wo) to
// store(r, base, run). Output rows outermost: all kd rows of a run land close together in both
// packed layouts, so every cache line is completed while it is hot. The layout is the store's.
template <class Store>
void unfold(const ConvShape& s, const float* x, int64_t n0, int64_t nb, float* run, Store&& store) {
  const int64_t ho = s.ho(), wo = s.wo(), hw = s.h * s.w, plane = s.n * hw;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t oy = 0; oy < ho; ++oy) {
      const int64_t base = (i * ho + oy) * wo;
      for (int64_t c = 0; c < s.cin; ++c) {
        const float* img = x + c * plane + (n0 + i) * hw;
        for (int64_t ky = 0; ky < s.k; ++ky) {
          const int64_t iy = oy * s.stride - s.pad + ky;
          const bool inside = iy >= 0 && iy < s.h;
          const float* in = img + iy * s.w;
          for (int64_t kx = 0; kx < s.k; ++kx) {
            const int64_t r = (c * s.k + ky) * s.k + kx;
            if (!inside) {
              for (int64_t ox = 0; ox < wo; ++ox) run[ox] = 0.0f;
            } else if (s.stride == 1) {
              // short runs: plain loops beat memcpy calls
              const int64_t off = kx - s.pad;
              const int64_t lo = std::min<int64_t>(wo, std::max<int64_t>(0, -off));
              const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(wo, s.w - off));
              for (int64_t ox = 0; ox < lo; ++ox) run[ox] = 0.0f;
              for (int64_t ox = lo; ox < hi; ++ox) run[ox] = in[ox + off];
              for (int64_t ox = hi; ox < wo; ++ox) run[ox] = 0.0f;
            } else {
              for (int64_t ox = 0; ox < wo; ++ox) {
                const int64_t ix = ox * s.stride - s.pad + kx;
                run[ox] = (ix >= 0 && ix < s.w) ? in[ix] : 0.0f;
              }
            }
            store(r, base, run, wo);
          }
        }
      }
    }
}

// The column matrix col[kd][cols] as GEMM operand B packed in column panels of nr:
// out[(c / nr)][r][c % nr] (forward: Y = W col).
void im2col_panels(const ConvShape& s, const float* x, int64_t n0, int64_t nb, int64_t nr, float* run, float* out) {
  const int64_t kd = s.kdim(), cols = nb * s.ho() * s.wo(), panels = (cols + nr - 1) / nr;
  if (cols % nr)  // padding columns of the last panel: zero, so they stay finite
    for (int64_t r = 0; r < kd; ++r)
      for (int64_t c = cols % nr; c < nr; ++c) out[((panels - 1) * kd + r) * nr + c] = 0.0f;
  unfold(s, x, n0, nb, run, [&](int64_t r, int64_t base, const float* v, int64_t len) {
    int64_t c = base;
    for (int64_t j = 0; j < len;) {
      const int64_t p = c / nr, o = c % nr, take = std::min(len - j, nr - o);
      float* dst = out + (p * kd + r) * nr + o;
      for (int64_t q = 0; q < take; ++q) dst[q] = v[j + q];
      j += take;
      c += take;
    }
  });
}

// col^T[cols][kd] as GEMM operand B packed in panels of nr rows of col: out[(r / nr)][c][r % nr]
// (weight gradient: dW = dY col^T).
void im2col_t_panels(const ConvShape& s, const float* x, int64_t n0, int64_t nb, int64_t nr, float* run, float* out) {
  const int64_t kd = s.kdim(), cols = nb * s.ho() * s.wo(), panels = (kd + nr - 1) / nr;
  if (kd % nr)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t r = kd % nr; r < nr; ++r) out[((panels - 1) * cols + c) * nr + r] = 0.0f;
  unfold(s, x, n0, nb, run, [&](int64_t r, int64_t base, const float* v, int64_t len) {
    float* dst = out + ((r / nr) * cols + base) * nr + r % nr;
    for (int64_t j = 0; j < len; ++j) dst[j * nr] = v[j];
  });
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

// Stride-1 convolutions on a zero-padded copy of the chunk's images ("shifted rows"): on the
// padded grid (HP x WP per image, flattened over the chunk) the input of output (oy, ox) for tap
// (ky, kx) sits at a constant offset ky*WP + kx from the output's own position, so every row of
// the column matrix is a plain slice of the padded input, which the GEMMs read in place
// (GemmArgs::b_rows, gemm_nt_rows) instead of an unfolded copy: im2col's bounds-checked scalar
// loop took ~45% of a width-16 step (perf, 2-core EPYC), and its copy (9x the input) lived in L3
// where the padded chunk fits in L2. The GEMM computes outputs at every grid position, the
// (k-1)-wide borders included (15% extra at 28x28, 31% at 14x14, 65% at 7x7), which costs less than
// the unfolding it replaces even at 7x7; only the valid outputs are kept.
struct Padded {
  int64_t hp, wp, grid;  // padded image sides, positions per image
  int64_t q;             // grid positions of the chunk (GEMM columns)
  int64_t plane;         // floats per channel in the padded buffer (q + slack for the taps)
};

Padded padded_layout(const ConvShape& s, int64_t nb, int64_t nr) {
  Padded p;
  p.hp = s.h + 2 * s.pad;
  p.wp = s.w + 2 * s.pad;
  p.grid = p.hp * p.wp;
  p.q = nb * p.grid;
  // Taps of the last panel's columns read up to (k-1)*(wp+1) + nr - 1 past q: keep them inside.
  p.plane = p.q + (s.k - 1) * (p.wp + 1) + nr;
  return p;
}

// xp[c][i][py][px] = x of image n0+i at (py - pad, px - pad), zero outside; slack zeroed.
void pad_images(const ConvShape& s, const Padded& p, const float* x, int64_t n0, int64_t nb, float* xp) {
  const int64_t hw = s.h * s.w, plane = s.n * hw;
  for (int64_t c = 0; c < s.cin; ++c) {
    float* dst = xp + c * p.plane;
    std::memset(dst, 0, sizeof(float) * size_t(p.plane));
    for (int64_t i = 0; i < nb; ++i) {
      const float* src = x + c * plane + (n0 + i) * hw;
      float* img = dst + i * p.grid + s.pad * p.wp + s.pad;
      for (int64_t y = 0; y < s.h; ++y) std::memcpy(img + y * p.wp, src + y * s.w, sizeof(float) * size_t(s.w));
    }
  }
}

// Row r = (c*k + ky)*k + kx of the column matrix on the padded grid: the padded input of channel
// c shifted by the tap's offset. (Thread-local table, valid until the next call on this thread.)
const float* const* tap_rows(const ConvShape& s, const Padded& p, const float* xp) {
  thread_local std::vector<const float*> rows;
  rows.resize(size_t(s.kdim()));
  for (int64_t r = 0; r < s.kdim(); ++r) {
    const int64_t c = r / (s.k * s.k), tap = r % (s.k * s.k);
    rows[size_t(r)] = xp + c * p.plane + (tap / s.k) * p.wp + tap % s.k;
  }
  return rows.data();
}

// dY of the chunk on the padded grid: dg[co][i*grid + oy*wp + ox], zero where no output is.
void dy_to_grid(const ConvShape& s, const Padded& p, const float* dy, int64_t n0, int64_t nb, float* dg) {
  const int64_t ho = s.ho(), wo = s.wo(), pix = ho * wo, total = s.n * pix;
  std::memset(dg, 0, sizeof(float) * size_t(s.cout * p.q));
  for (int64_t co = 0; co < s.cout; ++co)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t oy = 0; oy < ho; ++oy)
        std::memcpy(dg + co * p.q + i * p.grid + oy * p.wp, dy + co * total + (n0 + i) * pix + oy * wo,
                    sizeof(float) * size_t(wo));
}

thread_local std::vector<float> t_col, t_dcol, t_run, t_pad, t_grid;

float* scratch(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

}  // namespace

void conv_forward(const ConvShape& s, const float* x, const float* w, float* y) {
  const Chunks ch = plan(s);
  const int64_t pix = s.ho() * s.wo(), total = s.n * pix, kd = s.kdim();
  parallel_for(ch.count, [&](int64_t t, int) {
    const int64_t n0 = t * ch.images, nb = std::min(ch.images, s.n - n0), cols = nb * pix;
    const int64_t nr = gemm_nr();
    if (s.stride == 1) {
      // Same products summed in the same order as the unfolded path: bit-identical outputs.
      const Padded p = padded_layout(s, nb, nr);
      float* xp = scratch(t_pad, s.cin * p.plane);
      pad_images(s, p, x, n0, nb, xp);
      // Row r of the column matrix is the padded input at the tap's offset: the GEMM reads it in
      // place (the slack after q keeps the last panel's over-reads inside the buffer).
      const float* const* rows = tap_rows(s, p, xp);
      float* grid = scratch(t_grid, s.cout * p.q);
      GemmArgs g{s.cout, p.q, kd, w, kd, 1, nullptr, 0, 0, grid, p.q, false};
      g.b_rows = rows;
      gemm(g);
      const int64_t ho = s.ho(), wo = s.wo();
      for (int64_t co = 0; co < s.cout; ++co)
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t oy = 0; oy < ho; ++oy)
            std::memcpy(y + co * total + (n0 + i) * pix + oy * wo, grid + co * p.q + i * p.grid + oy * p.wp,
                        sizeof(float) * size_t(wo));
      return;
    }
    float* col = scratch(t_col, kd * ((cols + nr - 1) / nr) * nr);
    im2col_panels(s, x, n0, nb, nr, scratch(t_run, s.wo()), col);
    GemmArgs g{s.cout, cols, kd, w, kd, 1, nullptr, 0, 0, y + n0 * pix, total, false};
    g.b_packed = col;
    gemm(g);
  });
}

void conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  // Stride 1: dX is the forward convolution of dY with the flipped, transposed kernel and
  // padding k-1-pad, which writes dx directly (no col2im scatter, no zeroing).
  const bool transposed = dx && s.stride == 1 && s.pad <= s.k - 1;
  const Chunks ch = plan(s);
  const int64_t pix = s.ho() * s.wo(), total = s.n * pix, kd = s.kdim(), wsize = s.cout * kd;
  // Chunks are dealt to a fixed number of lanes, lane l taking chunks l, l+L, ...; each lane
  // sums into its own dW and the lanes are added in order, so the result does not depend on
  // which worker ran what (bit-identical steps after a checkpoint restore).
  const int64_t lanes = std::min<int64_t>(ch.count, int64_t(pool_threads()) * 2);
  // Kept between calls (the step's thread): a fresh allocation per call would be page-faulted in.
  thread_local std::vector<float> t_partial;
  float* partial = scratch(t_partial, lanes * wsize);
  std::fill(partial, partial + lanes * wsize, 0.0f);
  parallel_for(lanes, [&](int64_t lane, int) {
    for (int64_t t = lane; t < ch.count; t += lanes) {
      const int64_t n0 = t * ch.images, nb = std::min(ch.images, s.n - n0), cols = nb * pix;
      const int64_t nr = gemm_nr();
      if (s.stride == 1) {
        const Padded p = padded_layout(s, nb, nr);
        float* xp = scratch(t_pad, s.cin * p.plane);
        pad_images(s, p, x, n0, nb, xp);
        float* dg = scratch(t_grid, s.cout * p.q);
        dy_to_grid(s, p, dy, n0, nb, dg);
        // dW[co][r] += dY_grid[co] . (row r of the column matrix), each row a shifted slice of the
        // padded input: no transposed copy of the column matrix (the border positions add zeros).
        gemm_nt_rows(s.cout, kd, p.q, dg, p.q, tap_rows(s, p, xp), partial + lane * wsize, kd, true);
        if (dx && !transposed) {
          float* dcol = scratch(t_dcol, kd * cols);
          gemm({kd, cols, s.cout, w, 1, kd, dy + n0 * pix, total, 1, dcol, cols, false});
          col2im(s, dcol, n0, nb, dx);
        }
        continue;
      }
      float* colt = scratch(t_col, cols * ((kd + nr - 1) / nr) * nr);
      im2col_t_panels(s, x, n0, nb, nr, scratch(t_run, s.wo()), colt);
      // dW += dY_chunk [cout, cols] x col^T [cols, kd]
      GemmArgs g{s.cout, kd, cols, dy + n0 * pix, total, 1, nullptr, 0, 0, partial + lane * wsize, kd, true};
      g.b_packed = colt;
      gemm(g);
      if (dx && !transposed) {
        float* dcol = scratch(t_dcol, kd * cols);
        // dcol [kd, cols] = W^T [kd, cout] x dY_chunk [cout, cols]
        gemm({kd, cols, s.cout, w, 1, kd, dy + n0 * pix, total, 1, dcol, cols, false});
        col2im(s, dcol, n0, nb, dx);
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
    conv_forward({s.cout, s.cin, s.k, 1, s.k - 1 - s.pad, s.n, s.ho(), s.wo()}, dy, wt, dx);
  }
}

}  // namespace clsa::cpu::nn
