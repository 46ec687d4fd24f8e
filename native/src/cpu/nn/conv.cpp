// Convolution as GEMM over chunks of whole images: each pool task pads a few images into its own
// buffer and runs single-threaded GEMMs that read the column matrix's rows in place as shifted
// slices of it (see Padded below), so chunks never write the same output. The weight gradient
// reads the same rows in place as its A operand; the input gradient is a transposed convolution
// on a zero-bordered copy of dY, one GEMM per phase of the stride (see backward_data_chunk).
#include "conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../threadpool.h"
#include "gemm.h"

namespace clsa::cpu::nn {
namespace {

thread_local std::vector<float> t_pad, t_grid;
thread_local std::vector<bf16_t> t_pad16, t_grid16;

template <class T>
T* scratch(std::vector<T>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

struct Chunks {
  int64_t images;  // images per chunk
  int64_t count;
};

// bf16 sums the weight gradient over chunks planned as for this many threads, whatever the pool
// has, so its partial sums and their order (and with them the result) are the same for any thread
// count. 4: the build machine's 2 cores get the fp32 plan's chunk sizes or half of them.
constexpr int64_t kBf16PlanThreads = 4;

// fp32 dW as a GEMM over rows read in place needs dY transposed, one move per kd products: below
// this many (the stem's 9: 1.4x slower there, single-thread CPU time) a dot product per weight wins.
constexpr int64_t kRowsGemmMinK = 16;

Chunks plan(const ConvShape& s, int64_t threads) {
  const int64_t pix = s.ho() * s.wo();
  // Sized as for ~2 MB of unfolded columns (kd x pixels floats; tuned when the columns were
  // copied out, measured on the 2-core build machine: 4x smaller or larger chunks were slower);
  // the padded chunk itself is k*k times smaller. At least one image.
  constexpr int64_t kColFloats = int64_t(1) << 19;
  int64_t per = std::max<int64_t>(1, kColFloats / std::max<int64_t>(1, pix * s.kdim()));
  // Enough chunks to keep every worker busy when the batch is small.
  while (per > 1 && (s.n + per - 1) / per < threads * 2) per = (per + 1) / 2;
  // Chunks of equal size (to one image), as many as a multiple of the threads where the batch
  // allows: 64 images in chunks of 18 (18, 18, 18, 10) left one of two cores idle for a fifth of
  // the call.
  const int64_t count = std::min(s.n, ((s.n + per - 1) / per + threads - 1) / threads * threads);
  per = (s.n + count - 1) / count;
  return {per, (s.n + per - 1) / per};
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

typedef float f4 __attribute__((vector_size(16)));
typedef int i4 __attribute__((vector_size(16)));
inline f4 load4(const float* p) {
  f4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, f4 v) { std::memcpy(p, &v, sizeof v); }

// even[j] = in[2j], odd[j] = in[2j + 1] over a row of w values, 4 + 4 at a time; a null
// destination skips its half.
void split_columns(const float* in, int64_t w, float* even, float* odd) {
  int64_t j = 0;
  for (; 2 * j + 8 <= w; j += 4) {
    const f4 lo = load4(in + 2 * j), hi = load4(in + 2 * j + 4);
    if (even) store4(even + j, __builtin_shuffle(lo, hi, i4{0, 2, 4, 6}));
    if (odd) store4(odd + j, __builtin_shuffle(lo, hi, i4{1, 3, 5, 7}));
  }
  for (; 2 * j < w; ++j) {
    if (even) even[j] = in[2 * j];
    if (odd && 2 * j + 1 < w) odd[j] = in[2 * j + 1];
  }
}

// pad_images at stride 2: each input row is split once into its even and odd columns, which land
// in the two column phases (a strided scalar copy per phase read every row twice: a 3x3 stride-2
// forward at 16 -> 32 channels went from 1.46 to 1.22 ms, single-thread CPU time).
void pad_images_stride2(const ConvShape& s, const Padded& p, const float* x, int64_t n0, int64_t nb, float* xp) {
  const int64_t hw = s.h * s.w, plane = s.n * hw;
  for (int64_t c = 0; c < s.cin; ++c)
    for (int64_t a = 0; a < p.ph; ++a) {
      float* planes = xp + (c * p.ph + a) * p.ph * p.plane;
      std::memset(planes, 0, sizeof(float) * size_t(p.ph * p.plane));
      // Input column ix of parity q goes to column phase b = (q + pad) mod 2, at v = (ix + pad - b) / 2;
      // with one phase (a 1x1 kernel, ph = 1) the other parity is never read.
      float* dst[2];
      for (int64_t q = 0; q < 2; ++q) {
        const int64_t b = (q + s.pad) % 2;
        dst[q] = b < p.ph ? planes + b * p.plane + (q + s.pad - b) / 2 : nullptr;
      }
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t u = 0; u < p.hs; ++u) {
          const int64_t y = 2 * u + a - s.pad;
          if (y < 0 || y >= s.h) continue;
          const int64_t at = i * p.grid + u * p.ws;
          split_columns(x + c * plane + (n0 + i) * hw + y * s.w, s.w, dst[0] ? dst[0] + at : nullptr,
                        dst[1] ? dst[1] + at : nullptr);
        }
    }
}

// xp[c][a][b][i][u][v] = x of image n0+i at (s*u + a - pad, s*v + b - pad), zero outside; slack zeroed.
void pad_images(const ConvShape& s, const Padded& p, const float* x, int64_t n0, int64_t nb, float* xp) {
  if (s.stride == 2) return pad_images_stride2(s, p, x, n0, nb, xp);
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

// dst[j * ld + c] = src[c * ss + j] for c, j < 4: a 4 x 4 block transposed in registers (16-byte
// vectors: the baseline of every build).
inline void transpose4(const float* src, int64_t ss, float* dst, int64_t ld) {
  const f4 r0 = load4(src), r1 = load4(src + ss), r2 = load4(src + 2 * ss), r3 = load4(src + 3 * ss);
  const f4 t0 = __builtin_shuffle(r0, r1, i4{0, 4, 1, 5}), t1 = __builtin_shuffle(r0, r1, i4{2, 6, 3, 7});
  const f4 t2 = __builtin_shuffle(r2, r3, i4{0, 4, 1, 5}), t3 = __builtin_shuffle(r2, r3, i4{2, 6, 3, 7});
  store4(dst, __builtin_shuffle(t0, t2, i4{0, 1, 4, 5}));
  store4(dst + ld, __builtin_shuffle(t0, t2, i4{2, 3, 6, 7}));
  store4(dst + 2 * ld, __builtin_shuffle(t1, t3, i4{0, 1, 4, 5}));
  store4(dst + 3 * ld, __builtin_shuffle(t1, t3, i4{2, 3, 6, 7}));
}

// The same grid transposed, as the B operand of dW's GEMM (K = grid position, N = output channel)
// in the packed panel layout [ceil(cout / nr)][q][nr] (GemmArgs::b_packed); the padding channels
// of the last panel are zero. One output row of one panel at a time, so the writes stay in L1; in
// 4 x 4 blocks, since a scalar transpose cost a quarter of the products at 16 channels.
void dy_to_panels(const ConvShape& s, const Padded& p, const float* dy, int64_t n0, int64_t nb, int64_t nr,
                  float* out) {
  const int64_t ho = s.ho(), wo = s.wo(), pix = ho * wo, total = s.n * pix;
  const int64_t panels = (s.cout + nr - 1) / nr;
  std::memset(out, 0, sizeof(float) * size_t(panels * p.q * nr));
  for (int64_t pn = 0; pn < panels; ++pn) {
    const int64_t c0 = pn * nr, cn = std::min(nr, s.cout - c0);
    float* panel = out + pn * p.q * nr;
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t oy = 0; oy < ho; ++oy) {
        float* dst = panel + (i * p.grid + oy * p.ws) * nr;
        const float* src = dy + c0 * total + (n0 + i) * pix + oy * wo;
        int64_t c = 0;
        for (; c + 4 <= cn; c += 4) {
          int64_t ox = 0;
          for (; ox + 4 <= wo; ox += 4) transpose4(src + c * total + ox, total, dst + ox * nr + c, nr);
          for (; ox < wo; ++ox)
            for (int64_t j = 0; j < 4; ++j) dst[ox * nr + c + j] = src[(c + j) * total + ox];
        }
        for (; c < cn; ++c)
          for (int64_t ox = 0; ox < wo; ++ox) dst[ox * nr + c] = src[c * total + ox];
      }
  }
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// One dimension of a phase of the input gradient: the input coordinates i = s*u + r - pad (those
// of residue r), reached by the taps kk = r + s*t, t < taps, from output coordinate u - t.
struct Axis {
  int64_t taps;    // 0 when r >= k: these inputs feed no output (their gradient is zero)
  int64_t lo, hi;  // the u with an input coordinate inside [0, size)
};

Axis phase_axis(int64_t r, int64_t k, int64_t stride, int64_t pad, int64_t size) {
  Axis a;
  a.taps = r < k ? (k - r + stride - 1) / stride : 0;
  a.lo = std::max<int64_t>(0, -floor_div(r - pad, stride));
  a.hi = floor_div(size - 1 + pad - r, stride) + 1;
  return a;
}

// The zero-bordered copy of a chunk's dY that every phase reads: image blocks of hg x wg, the data
// at rows [by, by + ho) and columns [bx, bx + wo), as in the forward's shared-border grid. Phase
// output u (image i) reads dY row u - t, which is data or a zero border as long as
// by >= taps - 1 - lo (no read above the image's block) and by >= hi - ho (rows below the data
// are the next block's top border); columns alike.
struct DyGrid {
  int64_t by, bx, hg, wg, grid;
  int64_t plane;  // floats per channel: the blocks of the chunk, then zero slack for over-reads
};

struct Phase {
  Axis y, x;
  int64_t base;  // grid position of the phase's first output (lo_y, lo_x) in image 0
  int64_t n;     // GEMM columns: grid positions from that one to the last image's last output
  int64_t kdim;  // cout * taps_y * taps_x
  bool empty() const { return y.taps == 0 || x.taps == 0 || y.hi <= y.lo || x.hi <= x.lo; }
};

struct DataPlan {
  DyGrid g;
  std::vector<Phase> phases;  // residues (ry, rx) at ry * stride + rx
};

DataPlan data_plan(const ConvShape& s, int64_t nb, int64_t nr) {
  DataPlan d;
  const int64_t st = s.stride, ho = s.ho(), wo = s.wo();
  std::vector<Axis> ys, xs;
  d.g.by = d.g.bx = 0;
  for (int64_t r = 0; r < st; ++r) {
    ys.push_back(phase_axis(r, s.k, st, s.pad, s.h));
    xs.push_back(phase_axis(r, s.k, st, s.pad, s.w));
  }
  auto border = [](const Axis& a, int64_t out) { return std::max(a.taps - 1 - a.lo, a.hi - out); };
  for (int64_t ry = 0; ry < st; ++ry)
    for (int64_t rx = 0; rx < st; ++rx) {
      const Phase ph{ys[size_t(ry)], xs[size_t(rx)], 0, 0, 0};
      if (ph.empty()) continue;
      d.g.by = std::max(d.g.by, border(ph.y, ho));
      d.g.bx = std::max(d.g.bx, border(ph.x, wo));
    }
  d.g.hg = ho + d.g.by;
  d.g.wg = wo + d.g.bx;
  d.g.grid = d.g.hg * d.g.wg;
  int64_t end = nb * d.g.grid;
  for (int64_t ry = 0; ry < st; ++ry)
    for (int64_t rx = 0; rx < st; ++rx) {
      Phase ph{ys[size_t(ry)], xs[size_t(rx)], 0, 0, 0};
      if (!ph.empty()) {
        ph.base = (ph.y.lo + d.g.by) * d.g.wg + ph.x.lo + d.g.bx;
        ph.n = (nb - 1) * d.g.grid + (ph.y.hi - 1 - ph.y.lo) * d.g.wg + ph.x.hi - ph.x.lo;
        ph.kdim = s.cout * ph.y.taps * ph.x.taps;
        end = std::max(end, ph.base + ph.n);
      }
      d.phases.push_back(ph);
    }
  // The last panel's loads run up to nr - 1 past a row's n columns.
  d.g.plane = end + nr;
  return d;
}

// Weights of each phase's GEMM, A[ci][(co, a, b)] = w[co][ci][ry + s*(ty-1-a)][rx + s*(tx-1-b)]:
// K ordered by increasing offset of the rows read (at stride 1 the forward's tap order on the
// flipped kernel). Phases back to back, in the order of DataPlan::phases.
void phase_weights(const ConvShape& s, const DataPlan& d, const float* w, std::vector<float>& out) {
  size_t total = 0;
  for (const Phase& ph : d.phases) total += ph.empty() ? 0 : size_t(s.cin * ph.kdim);
  out.resize(total);
  float* dst = out.data();
  for (size_t i = 0; i < d.phases.size(); ++i) {
    const Phase& ph = d.phases[i];
    if (ph.empty()) continue;
    const int64_t ry = int64_t(i) / s.stride, rx = int64_t(i) % s.stride;
    for (int64_t ci = 0; ci < s.cin; ++ci)
      for (int64_t co = 0; co < s.cout; ++co)
        for (int64_t a = 0; a < ph.y.taps; ++a)
          for (int64_t b = 0; b < ph.x.taps; ++b) {
            const int64_t ky = ry + s.stride * (ph.y.taps - 1 - a), kx = rx + s.stride * (ph.x.taps - 1 - b);
            *dst++ = w[((co * s.cin + ci) * s.k + ky) * s.k + kx];
          }
  }
}

// dY of images n0 .. n0+nb on the zero-bordered grid.
void dy_to_border_grid(const ConvShape& s, const DyGrid& g, const float* dy, int64_t n0, int64_t nb, float* out) {
  const int64_t ho = s.ho(), wo = s.wo(), pix = ho * wo, total = s.n * pix;
  std::memset(out, 0, sizeof(float) * size_t(s.cout * g.plane));
  // Without side borders an image's rows are contiguous on the grid too: one copy per image (rows
  // of 7 floats one memcpy each cost more in calls than in bytes).
  const int64_t rows = g.bx == 0 ? 1 : ho, len = g.bx == 0 ? pix : wo;
  for (int64_t co = 0; co < s.cout; ++co)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t oy = 0; oy < rows; ++oy)
        std::memcpy(out + co * g.plane + i * g.grid + (oy + g.by) * g.wg + g.bx, dy + co * total + (n0 + i) * pix + oy * wo,
                    sizeof(float) * size_t(len));
}

// dx rows of images n0 .. n0+nb from the phases' outputs (res[phase] = [cin][n] of that phase):
// every input position belongs to exactly one phase, so each is written once, row by row; rows
// with a phase that no tap reaches (3 of the 4 at a 1x1 kernel's stride 2) are zeroed first.
void scatter_phases(const ConvShape& s, const DataPlan& d, const std::vector<const float*>& res, int64_t n0,
                    int64_t nb, float* dx) {
  const int64_t st = s.stride, hw = s.h * s.w, plane = s.n * hw;
  std::vector<char> holes(size_t(st), 0);
  for (int64_t ry = 0; ry < st; ++ry)
    for (int64_t rx = 0; rx < st; ++rx) holes[size_t(ry)] |= d.phases[size_t(ry * st + rx)].empty();
  for (int64_t ci = 0; ci < s.cin; ++ci)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t iy = 0; iy < s.h; ++iy) {
        const int64_t ry = (iy + s.pad) % st, u = (iy + s.pad) / st;
        float* row = dx + ci * plane + (n0 + i) * hw + iy * s.w;
        if (holes[size_t(ry)]) std::memset(row, 0, sizeof(float) * size_t(s.w));
        for (int64_t rx = 0; rx < st; ++rx) {
          const size_t pi = size_t(ry * st + rx);
          const Phase& ph = d.phases[pi];
          if (ph.empty()) continue;
          const Axis& ax = ph.x;
          float* out = row + st * ax.lo + rx - s.pad;
          const float* src = res[pi] + ci * ph.n + i * d.g.grid + (u - ph.y.lo) * d.g.wg;
          if (st == 1) {
            std::memcpy(out, src, sizeof(float) * size_t(ax.hi - ax.lo));
          } else {
            for (int64_t v = 0; v < ax.hi - ax.lo; ++v) out[st * v] = src[v];
          }
        }
      }
}

// dX: input position (iy, ix) with residues (ry, rx) = ((iy + pad) mod s, (ix + pad) mod s) gets
// dY only through the taps ky = ry + s*ty, kx = rx + s*tx, from output (u - ty, v - tx) where
// u = (iy + pad) div s. So each phase (ry, rx) of dx is a stride-1 correlation of dY with a
// sub-kernel (2x2, 2x1, 1x2 and 1x1 of a 3x3 kernel at stride 2; the whole flipped kernel at
// stride 1), one GEMM whose K rows are shifted slices of the zero-bordered dY grid, read in
// place as the forward's. Each dx element is written once: no column matrix, no col2im scatter,
// no zeroing; the sums over (co, taps) run in one GEMM. This is one chunk's (images n0 ..
// n0+nb; chunks write disjoint rows of dx); wsub from phase_weights.
void backward_data_chunk(const ConvShape& s, const float* wsub, const float* dy, int64_t n0, int64_t nb, float* dx,
                         Precision prec) {
  const DataPlan d = data_plan(s, nb, gemm_nr());
  thread_local std::vector<float> t_dyg, t_res;
  thread_local std::vector<const float*> t_rows;
  // A 1x1 kernel (the projection shortcut) needs no border: its one tap reads dY where it is.
  const bool in_place = s.k == 1 && d.g.by == 0 && d.g.bx == 0;
  float* grid = in_place ? nullptr : scratch(t_dyg, s.cout * d.g.plane);
  if (!in_place) dy_to_border_grid(s, d.g, dy, n0, nb, grid);
  int64_t res_size = 0;
  for (const Phase& ph : d.phases) res_size += ph.empty() ? 0 : s.cin * ph.n;
  float* res = scratch(t_res, res_size);
  std::vector<const float*> outs(d.phases.size(), nullptr);
  const float* a = wsub;
  for (size_t pi = 0; pi < d.phases.size(); ++pi) {
    const Phase& ph = d.phases[pi];
    if (ph.empty()) continue;
    GemmArgs g{s.cin, ph.n, ph.kdim, a, ph.kdim, 1, nullptr, 0, 0, res, ph.n, false};
    g.precision = prec;
    if (in_place) {
      // (a plain operand, packed by the GEMM: rows read in place may be over-read past the end of dy)
      g.b = dy + n0 * s.ho() * s.wo() + ph.base;
      g.rsb = s.n * s.ho() * s.wo();
      g.csb = 1;
    } else {
      t_rows.resize(size_t(ph.kdim));
      for (int64_t co = 0, r = 0; co < s.cout; ++co)
        for (int64_t ay = 0; ay < ph.y.taps; ++ay)
          for (int64_t bx = 0; bx < ph.x.taps; ++bx, ++r)
            t_rows[size_t(r)] = grid + co * d.g.plane + ph.base - (ph.y.taps - 1 - ay) * d.g.wg - (ph.x.taps - 1 - bx);
      g.b_rows = t_rows.data();
    }
    gemm(g);
    outs[pi] = res;
    res += s.cin * ph.n;
    a += s.cin * ph.kdim;
  }
  scatter_phases(s, d, outs, n0, nb, dx);
}

// Whether weight_grad_chunk sums dW transposed ([kd][cout], the C of the rows GEMM) or as [cout][kd].
// bf16 takes the fp32 form too: rounding the chunk to a bf16 copy and taking a dot product per
// weight cost more than the fp32 GEMM over the rows in place (the bf16 step's backward was slower
// than fp32's in the quiet benchmark of 2026-12-05), and dW in fp32 is the more accurate.
bool weight_grad_transposed(const ConvShape& s) {
  return s.kdim() >= kRowsGemmMinK;
}

// dW of images n0 .. n0+nb, added to lane_dw (laid out as weight_grad_transposed says): a sum over
// the chunk's grid positions of dY times the rows of the column matrix, each row a shifted slice of
// the padded chunk (the border positions add zeros).
void weight_grad_chunk(const ConvShape& s, const float* x, const float* dy, int64_t n0, int64_t nb, Precision prec,
                       float* lane_dw) {
  const int64_t nr = gemm_nr(), kd = s.kdim();
  const Padded p = padded_layout(s, nb, nr);
  float* xp = scratch(t_pad, s.cin * p.ph * p.ph * p.plane);
  pad_images(s, p, x, n0, nb, xp);
  if (weight_grad_transposed(s)) {
    // dW^T[r][co] += (row r) x dY: the rows are A, read in place (the padded chunk is never
    // unfolded or repacked), and dY, k*k times smaller than them, is the packed B. (A dot product
    // per weight, as below, ends each in a horizontal sum, which cost as much as its products at 7x7.)
    float* panels = scratch(t_grid, (s.cout + nr - 1) / nr * nr * p.q);
    dy_to_panels(s, p, dy, n0, nb, nr, panels);
    GemmArgs g{kd, s.cout, p.q, nullptr, 0, 0, nullptr, 0, 0, lane_dw, s.cout, true};
    g.a_rows = tap_rows<float>(s, p, xp);
    g.b_packed = panels;
    gemm(g);
    return;
  }
  // dW[co][r] += dY[co] . (row r): for few weights per output channel (the stem's 9), where
  // transposing dY for the GEMM above would cost more than its products; in bf16 both operands
  // are rounded once per chunk, as the rows overlap k*k times in the products.
  float* dg = scratch(t_grid, s.cout * p.q);
  dy_to_grid(s, p, dy, n0, nb, dg);
  if (prec == Precision::bf16) {
    const int64_t xn = s.cin * p.ph * p.ph * p.plane, gn = s.cout * p.q;
    bf16_t* xh = scratch(t_pad16, xn);
    bf16_t* gh = scratch(t_grid16, gn);
    to_bf16(xp, xh, xn);
    to_bf16(dg, gh, gn);
    gemm_nt_rows_bf16(s.cout, kd, p.q, gh, p.q, tap_rows<bf16_t>(s, p, xh), lane_dw, kd, true);
  } else {
    gemm_nt_rows(s.cout, kd, p.q, dg, p.q, tap_rows<float>(s, p, xp), lane_dw, kd, true);
  }
}

typedef double d2 __attribute__((vector_size(16)));

// A row of outputs copied out of the grid, its sum and sum of squares taken on the way (float64,
// in a fixed order: two lanes per half of a 4-float vector, then the tail).
struct Moments {
  d2 s1{}, s2{};
  double t1 = 0, t2 = 0;
  void copy(const float* src, float* dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const f4 v = load4(src + i);
      store4(dst + i, v);
      const d2 lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1), d2);
      const d2 hi = __builtin_convertvector(__builtin_shufflevector(v, v, 2, 3), d2);
      s1 += lo + hi;
      s2 += lo * lo + hi * hi;
    }
    for (; i < n; ++i) {
      dst[i] = src[i];
      t1 += src[i];
      t2 += double(src[i]) * double(src[i]);
    }
  }
  void store(double* out) const {
    out[0] = (s1[0] + s1[1]) + t1;
    out[1] = (s2[0] + s2[1]) + t2;
  }
};

// The chunk's valid outputs from the grid into y. With `moments`, each output channel's and
// image's sum and sum of squares go to moments[(co * n + image) * 2 + {0, 1}] (conv.h).
void keep_outputs(const ConvShape& s, const Padded& p, const float* grid, int64_t n0, int64_t nb, float* y,
                  double* moments) {
  const int64_t ho = s.ho(), wo = s.wo(), pix = ho * wo, total = s.n * pix;
  for (int64_t co = 0; co < s.cout; ++co)
    for (int64_t i = 0; i < nb; ++i) {
      float* dst = y + co * total + (n0 + i) * pix;
      const float* src = grid + co * p.q + i * p.grid;
      if (!moments) {
        for (int64_t oy = 0; oy < ho; ++oy)
          std::memcpy(dst + oy * wo, src + oy * p.ws, sizeof(float) * size_t(wo));
        continue;
      }
      Moments m;
      for (int64_t oy = 0; oy < ho; ++oy) m.copy(src + oy * p.ws, dst + oy * wo, wo);
      m.store(moments + (co * s.n + n0 + i) * 2);
    }
}

}  // namespace

void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, Precision prec, double* moments) {
  const Chunks ch = plan(s, pool_threads());
  const int64_t kd = s.kdim();
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
      keep_outputs(s, p, grid, n0, nb, y, moments);
    }
  });
}

void conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                   Precision prec) {
  const bool bf16 = prec == Precision::bf16;
  const int64_t plan_threads = bf16 ? kBf16PlanThreads : pool_threads();
  const Chunks ch = plan(s, plan_threads);
  const int64_t wsize = s.cout * s.kdim();
  // Chunks are dealt to a fixed number of lanes, lane l taking chunks l, l+L, ...; each lane
  // sums into its own dW and the lanes are added in order, so the result does not depend on
  // which worker ran what (bit-identical steps after a checkpoint restore).
  const int64_t lanes = std::min<int64_t>(ch.count, plan_threads * 2);
  // Kept between calls (the step's thread): a fresh allocation per call would be page-faulted in.
  thread_local std::vector<float> t_partial, t_wsub;
  float* partial = scratch(t_partial, lanes * wsize);
  std::fill(partial, partial + lanes * wsize, 0.0f);
  if (dx) phase_weights(s, data_plan(s, ch.images, gemm_nr()), w, t_wsub);
  const float* wsub = t_wsub.data();  // (the caller's thread_local: the workers see their own)
  parallel_for(lanes, [&](int64_t lane, int) {
    for (int64_t t = lane; t < ch.count; t += lanes) {
      const int64_t n0 = t * ch.images, nb = std::min(ch.images, s.n - n0);
      weight_grad_chunk(s, x, dy, n0, nb, prec, partial + lane * wsize);
      // The chunk's dY is still in cache from the line above.
      if (dx) backward_data_chunk(s, wsub, dy, n0, nb, dx, prec);
    }
  });
  // Lanes added in order; one task per output channel, so no core waits for this part.
  const bool transposed = weight_grad_transposed(s);
  const int64_t kd = s.kdim();
  parallel_for(s.cout, [&](int64_t co, int) {
    float* row = dw + co * kd;
    for (int64_t l = 0; l < lanes; ++l) {
      const float* p = partial + l * wsize;
      if (transposed)
        for (int64_t r = 0; r < kd; ++r) row[r] += p[r * s.cout + co];
      else
        for (int64_t r = 0; r < kd; ++r) row[r] += p[co * kd + r];
    }
  });
}

}  // namespace clsa::cpu::nn
