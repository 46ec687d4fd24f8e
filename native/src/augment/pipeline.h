// The per-image augmentation pipeline, written once for both executors.
//
// The CPU executor (cpu/augment.cpp) instantiates it with a context whose loops are plain loops;
// the CUDA executor (cuda/augment.cu) with one whose loops stride over the threads of a block
// and whose sync() is __syncthreads(). Sharing the code is how the two stay twins: the same
// integer and IEEE float/double operations, in the same order, with no contraction into FMAs
// (the *_rn intrinsics on the device; the host files are compiled without fp-contract).
//
// Each op reproduces the Pillow/torchvision formula the reference runs on its PIL images, with
// uint8 images between ops. The comments name the Pillow routine each step follows.
#pragma once
#include <cstdint>

#include "clsa/augment.h"

#if defined(__CUDACC__)
#define AUG_FN __device__ __forceinline__
#else
#include <cmath>
#define AUG_FN inline
#endif

namespace clsa::aug {

// ---- arithmetic that is identical on host and device ------------------------------------------
AUG_FN float fmul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
AUG_FN float fadd(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
AUG_FN float fdiv(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
AUG_FN double dmul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
AUG_FN double dadd(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
AUG_FN double dsub(double a, double b) { return dadd(a, -b); }
AUG_FN double ddiv(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
AUG_FN double dfloor(double x) { return floor(x); }
AUG_FN double dround(double x) { return round(x); }  // C round: half away from zero, as Pillow

AUG_FN int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
AUG_FN uint8_t clip8i(int v) { return uint8_t(v <= 0 ? 0 : v < 256 ? v : 255); }
AUG_FN uint8_t clip8f(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : uint8_t(int(v)); }

// Pillow's RGB -> L (Convert.c L24): rounded ITU-R 601-2 luma in 16-bit fixed point.
AUG_FN int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

// Image.blend / ImageEnhance: in1 + alpha * (in2 - in1) in float, clipped, truncated (Blend.c).
AUG_FN uint8_t blend(int in1, int in2, float alpha) {
  return clip8f(fadd(float(in1), fmul(alpha, float(in2 - in1))));
}

// Per-view constants of an executor: the normalisation as a lookup table ((x / 255 - mean) / std
// is computed once per level, on the host) and the output tensor.
struct ViewConst {
  int32_t size;
  int32_t pad_;
  float* out;             // [n, C, size, size]
  float lut[CLSA_AUGMENT_MAX_CHANNELS][256];
};

// Scratch of one (image, view) pair. a, b: size*size*C each; t: crop_h*size*C (<= H*size*C);
// hist: C*256 ints; misc: 64 ints; lut: C*256 bytes; coef: two resampling tables of size *
// (taps + 2) ints.
struct Scratch {
  uint8_t* a;
  uint8_t* b;
  uint8_t* t;
  int32_t* hist;
  int32_t* misc;
  uint8_t* lut;
  int32_t* coef;
  int32_t taps;
};

// ---- RandomResizedCrop resampling: Pillow Resample.c (bilinear, 8 bpc) -------------------------
constexpr int kPrecisionBits = 32 - 8 - 2;

AUG_FN double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return dsub(1.0, x);
  return 0.0;
}

// Resampling coefficients of one axis (precompute_coeffs + normalize_coeffs_8bpc): entry xx of
// `table` (stride taps + 2) holds xmin, the tap count and the 22-bit integer weights.
template <class Ctx>
AUG_FN void resample_coeffs(const Ctx& ctx, int in_size, int out_size, int32_t* table, int taps) {
  ctx.each(out_size, [&](int xx) {
    const double scale = ddiv(double(in_size), double(out_size));
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = filterscale;  // bilinear support 1.0 * filterscale
    const double center = dmul(dadd(double(xx), 0.5), scale);
    const double ss = ddiv(1.0, filterscale);
    int xmin = int(dadd(dsub(center, support), 0.5));
    if (xmin < 0) xmin = 0;
    int xmax = int(dadd(dadd(center, support), 0.5));
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax > taps) xmax = taps;  // cannot happen: taps >= 2 * ceil(scale) + 3 (scratch_layout)
    int32_t* e = table + xx * (taps + 2);
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) ww = dadd(ww, bilinear_filter(dmul(dadd(dsub(double(x + xmin), center), 0.5), ss)));
    for (int x = 0; x < xmax; ++x) {
      double k = bilinear_filter(dmul(dadd(dsub(double(x + xmin), center), 0.5), ss));
      if (ww != 0.0) k = ddiv(k, ww);
      e[2 + x] = k < 0 ? int32_t(dadd(-0.5, dmul(k, double(1 << kPrecisionBits))))
                       : int32_t(dadd(0.5, dmul(k, double(1 << kPrecisionBits))));
    }
    e[0] = xmin;
    e[1] = xmax;
  });
}

// The weighted sum of the C channels of samples at(xmin + i), rounded as Pillow's 8 bpc passes.
template <class At>
AUG_FN void resample_apply(const int32_t* e, int C, At at, uint8_t* out) {
  int32_t acc[CLSA_AUGMENT_MAX_CHANNELS];
  for (int c = 0; c < C; ++c) acc[c] = 1 << (kPrecisionBits - 1);
  const int xmin = e[0], count = e[1];
  for (int x = 0; x < count; ++x) {
    const int32_t k = e[2 + x];
    const uint8_t* px = at(xmin + x);
    for (int c = 0; c < C; ++c) acc[c] += int32_t(px[c]) * k;
  }
  for (int c = 0; c < C; ++c) out[c] = clip8i(acc[c] >> kPrecisionBits);
}

// ---- colour ----------------------------------------------------------------------------------
// Pillow Convert.c rgb2hsv_row / hsv2rgb, with their float/double mix reproduced.
AUG_FN void hue_shift_pixel(uint8_t* px, int shift) {
  const int r = px[0], g = px[1], b = px[2];
  const int maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const int minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
  int uh, us;
  const int uv = maxc;
  if (minc == maxc) {
    uh = 0;
    us = 0;
  } else {
    const float cr = float(maxc - minc);
    const float s = fdiv(cr, float(maxc));
    const float rc = fdiv(float(maxc - r), cr);
    const float gc = fdiv(float(maxc - g), cr);
    const float bc = fdiv(float(maxc - b), cr);
    float h;
    if (r == maxc)
      h = bc - gc;  // float - float: exact order, no contraction possible
    else if (g == maxc)
      h = float(dsub(dadd(2.0, double(rc)), double(bc)));
    else
      h = float(dsub(dadd(4.0, double(gc)), double(rc)));
    double hd = dadd(ddiv(double(h), 6.0), 1.0);
    hd = hd >= 1.0 ? dsub(hd, 1.0) : hd;  // fmod(x, 1.0) for x in [0, 2)
    h = float(hd);
    uh = clip8i(int(dmul(double(h), 255.0)));
    us = clip8i(int(dmul(double(s), 255.0)));
  }
  // torchvision: np_h += uint8(hue_factor * 255), wrapping mod 256.
  const int h8 = (uh + shift) & 255;
  if (us == 0) {
    px[0] = px[1] = px[2] = uint8_t(uv);
    return;
  }
  const int i = int(dfloor(ddiv(dmul(double(float(h8)), 6.0), 255.0)));
  const float f = float(dsub(ddiv(dmul(double(float(h8)), 6.0), 255.0), double(float(i))));
  const float fs = float(ddiv(double(float(us)), 255.0));
  const double vv = double(float(uv));
  const int p = int(dround(dmul(vv, dsub(1.0, double(fs)))));
  const int q = int(dround(dmul(vv, dsub(1.0, double(fmul(fs, f))))));
  const int t = int(dround(dmul(vv, dsub(1.0, dmul(double(fs), dsub(1.0, double(f)))))));
  const uint8_t up = clip8i(p), uq = clip8i(q), ut = clip8i(t), v8 = uint8_t(uv);
  switch (i % 6) {
    case 0: px[0] = v8; px[1] = ut; px[2] = up; break;
    case 1: px[0] = uq; px[1] = v8; px[2] = up; break;
    case 2: px[0] = up; px[1] = v8; px[2] = ut; break;
    case 3: px[0] = up; px[1] = uq; px[2] = v8; break;
    case 4: px[0] = ut; px[1] = up; px[2] = v8; break;
    default: px[0] = v8; px[1] = up; px[2] = uq; break;
  }
}

// ---- the pipeline -----------------------------------------------------------------------------
// Ctx provides: each(n, f) (f(i) for i < n, spread over the workers of the pair), each2d(rows,
// cols, f(r, c)) (the same over a grid, without divisions on the CPU), sync(),
// sum(partial) (sum over workers of per-worker partials, returned to all), atomic_add(p, v).

// ImageEnhance.Brightness: blend(black, img, f).
template <class Ctx>
AUG_FN void op_brightness(const Ctx& ctx, uint8_t* img, int count, float f) {
  ctx.each(count, [&](int i) { img[i] = blend(0, img[i], f); });
  ctx.sync();
}

// ImageEnhance.Contrast: blend(mean of L rounded, img, f).
template <class Ctx>
AUG_FN void op_contrast(const Ctx& ctx, uint8_t* img, int pixels, int C, float f) {
  int32_t part = 0;
  ctx.each(pixels, [&](int i) {
    const uint8_t* p = img + i * C;
    part += C == 3 ? luma(p[0], p[1], p[2]) : p[0];
  });
  const int32_t total = ctx.sum(part);
  const int mean = int(dadd(ddiv(double(total), double(pixels)), 0.5));
  ctx.each(pixels * C, [&](int i) { img[i] = blend(mean, img[i], f); });
  ctx.sync();
}

// ImageEnhance.Color: blend(L replicated, img, f); the identity on 1 channel.
template <class Ctx>
AUG_FN void op_color(const Ctx& ctx, uint8_t* img, int pixels, int C, float f) {
  if (C != 3) return;
  ctx.each(pixels, [&](int i) {
    uint8_t* p = img + i * 3;
    const int l = luma(p[0], p[1], p[2]);
    p[0] = blend(l, p[0], f);
    p[1] = blend(l, p[1], f);
    p[2] = blend(l, p[2], f);
  });
  ctx.sync();
}

template <class Ctx>
AUG_FN void op_hue(const Ctx& ctx, uint8_t* img, int pixels, int C, int shift) {
  if (C != 3) return;
  ctx.each(pixels, [&](int i) { hue_shift_pixel(img + i * 3, shift); });
  ctx.sync();
}

template <class Ctx>
AUG_FN void op_grayscale(const Ctx& ctx, uint8_t* img, int pixels, int C) {
  if (C != 3) return;
  ctx.each(pixels, [&](int i) {
    uint8_t* p = img + i * 3;
    const uint8_t l = uint8_t(luma(p[0], p[1], p[2]));
    p[0] = p[1] = p[2] = l;
  });
  ctx.sync();
}

// One Pillow box-blur pass (BoxBlur.c ImagingLineBoxBlur8) along x (vertical = false) or y:
// out = (ww * sum_{|k|<=r} in[clamp(x+k)] + fw * (in[clamp(x-r-1)] + in[clamp(x+r+1)]) + 2^23) >> 24.
template <class Ctx>
AUG_FN void box_blur_pass(const Ctx& ctx, const uint8_t* in, uint8_t* out, int s, int C, float radius, bool vertical) {
  const int r = int(radius);
  const uint32_t ww = uint32_t(fdiv(float(1 << 24), fadd(fmul(radius, 2.0f), 1.0f)));
  const uint32_t fw = ((1u << 24) - uint32_t(r * 2 + 1) * ww) / 2;
  if constexpr (Ctx::kSequential) {
    // One worker per image: Pillow's own running window sum along each line (the same integers).
    const int step = vertical ? s * C : C, line_step = vertical ? C : s * C;
    for (int line = 0; line < s; ++line)
      for (int c = 0; c < C; ++c) {
        const uint8_t* base = in + line * line_step + c;
        uint8_t* dst = out + line * line_step + c;
        auto at = [&](int q) { return int32_t(base[clampi(q, 0, s - 1) * step]); };
        int32_t acc = 0;
        for (int k = -r; k <= r; ++k) acc += at(k);
        // Edges clamp; the interior reads directly (same values, fewer instructions).
        const int lo = r + 1 < s ? r + 1 : s, hi = s - r - 1 > lo ? s - r - 1 : lo;
        auto emit = [&](int pos, int32_t far) {
          const uint32_t bulk = uint32_t(acc) * ww + uint32_t(far) * fw;
          dst[pos * step] = uint8_t((bulk + (1u << 23)) >> 24);
        };
        for (int pos = 0; pos < lo; ++pos) {
          emit(pos, at(pos - r - 1) + at(pos + r + 1));
          acc += at(pos + r + 1) - at(pos - r);
        }
        for (int pos = lo; pos < hi; ++pos) {
          const int32_t a = base[(pos - r - 1) * step], b = base[(pos + r + 1) * step];
          emit(pos, a + b);
          acc += b - int32_t(base[(pos - r) * step]);
        }
        for (int pos = hi; pos < s; ++pos) {
          emit(pos, at(pos - r - 1) + at(pos + r + 1));
          acc += at(pos + r + 1) - at(pos - r);
        }
      }
    return;
  }
  ctx.each2d(s, s, [&](int y, int x) {
    const int pos = vertical ? y : x;
    const int step = vertical ? s * C : C;
    const uint8_t* base = in + (vertical ? x * C : y * s * C);
    for (int c = 0; c < C; ++c) {
      auto at = [&](int q) { return uint32_t(base[clampi(q, 0, s - 1) * step + c]); };
      uint32_t acc = 0;
      for (int k = -r; k <= r; ++k) acc += at(pos + k);
      const uint32_t bulk = acc * ww + (at(pos - r - 1) + at(pos + r + 1)) * fw;
      out[(y * s + x) * C + c] = uint8_t((bulk + (1u << 23)) >> 24);
    }
  });
  ctx.sync();
}

// ImageEnhance.Sharpness: blend(SMOOTH-filtered, img, f). SMOOTH is the 3x3 kernel
// [1 1 1; 1 5 1; 1 1 1] / 13 (Filter.c ImagingFilter3x3: float taps, +0.5, border pixels copied).
template <class Ctx>
AUG_FN void op_sharpness(const Ctx& ctx, const uint8_t* in, uint8_t* out, int s, int C, float f) {
  const float k1 = fdiv(1.0f, 13.0f), k5 = fdiv(5.0f, 13.0f);
  ctx.each2d(s, s, [&](int y, int x) {
    const bool inner = x > 0 && y > 0 && x < s - 1 && y < s - 1;
    for (int c = 0; c < C; ++c) {
      const int i = (y * s + x) * C + c;
      int degenerate = in[i];
      if (inner) {
        auto px = [&](int xx, int yy) { return float(in[(yy * s + xx) * C + c]); };
        auto row = [&](int yy, float kl, float kc, float kr) {
          return fadd(fadd(fmul(px(x - 1, yy), kl), fmul(px(x, yy), kc)), fmul(px(x + 1, yy), kr));
        };
        float ss = 0.5f;
        ss = fadd(ss, row(y + 1, k1, k1, k1));
        ss = fadd(ss, row(y, k1, k5, k1));
        ss = fadd(ss, row(y - 1, k1, k1, k1));
        degenerate = clip8f(ss);
      }
      out[i] = blend(degenerate, in[i], f);
    }
  });
  ctx.sync();
}

// Per-channel histograms into scratch.hist.
template <class Ctx>
AUG_FN void histogram(const Ctx& ctx, const uint8_t* img, int pixels, int C, int32_t* hist) {
  ctx.each(C * 256, [&](int i) { hist[i] = 0; });
  ctx.sync();
  ctx.each(pixels, [&](int i) {
    for (int c = 0; c < C; ++c) ctx.atomic_add(&hist[c * 256 + img[i * C + c]], 1);
  });
  ctx.sync();
}

template <class Ctx>
AUG_FN void apply_lut(const Ctx& ctx, uint8_t* img, int pixels, int C, const uint8_t* lut) {
  ctx.each(pixels, [&](int i) {
    for (int c = 0; c < C; ++c) img[i * C + c] = lut[c * 256 + img[i * C + c]];
  });
  ctx.sync();
}

// ImageOps.autocontrast(cutoff=0): per channel lo/hi of the histogram, lut = int(ix * scale + offset).
template <class Ctx>
AUG_FN void op_autocontrast(const Ctx& ctx, uint8_t* img, int pixels, int C, const Scratch& sc) {
  histogram(ctx, img, pixels, C, sc.hist);
  ctx.each(C, [&](int c) {
    const int32_t* h = sc.hist + c * 256;
    int lo = 0, hi = 255;
    while (lo < 255 && !h[lo]) ++lo;
    while (hi > 0 && !h[hi]) --hi;
    sc.misc[2 * c] = lo;
    sc.misc[2 * c + 1] = hi;
  });
  ctx.sync();
  ctx.each(C * 256, [&](int i) {
    const int c = i / 256, ix = i % 256, lo = sc.misc[2 * c], hi = sc.misc[2 * c + 1];
    if (hi <= lo) {
      sc.lut[i] = uint8_t(ix);
    } else {
      const double scale = ddiv(255.0, double(hi - lo));
      const double offset = dmul(double(-lo), scale);
      sc.lut[i] = clip8i(int(dadd(dmul(double(ix), scale), offset)));
    }
  });
  ctx.sync();
  apply_lut(ctx, img, pixels, C, sc.lut);
}

// ImageOps.equalize: lut from the cumulative histogram with step = (total - last nonzero) // 256.
template <class Ctx>
AUG_FN void op_equalize(const Ctx& ctx, uint8_t* img, int pixels, int C, const Scratch& sc) {
  histogram(ctx, img, pixels, C, sc.hist);
  ctx.each(C, [&](int c) {
    const int32_t* h = sc.hist + c * 256;
    uint8_t* lut = sc.lut + c * 256;
    int nonzero = 0, total = 0, last = 0;
    for (int i = 0; i < 256; ++i)
      if (h[i]) {
        ++nonzero;
        total += h[i];
        last = h[i];
      }
    const int step = nonzero <= 1 ? 0 : (total - last) / 256;
    if (step == 0) {
      for (int i = 0; i < 256; ++i) lut[i] = uint8_t(i);
    } else {
      int n = step / 2;
      for (int i = 0; i < 256; ++i) {
        const int v = n / step;
        lut[i] = uint8_t(v > 255 ? 255 : v);
        n += h[i];
      }
    }
  });
  ctx.sync();
  apply_lut(ctx, img, pixels, C, sc.lut);
}

// Nearest-neighbour affine in Pillow's 16.16 fixed point (Geometry.c affine_fixed); uncovered
// pixels get `fill` (Image.transform's fillcolor).
template <class Ctx>
AUG_FN void op_affine(const Ctx& ctx, const uint8_t* in, uint8_t* out, int s, int C, const int32_t* a, int fill) {
  ctx.each2d(s, s, [&](int y, int x) {
    const int pix = y * s + x;
    const int64_t xx = int64_t(a[2]) + int64_t(x) * a[0] + int64_t(y) * a[1];
    const int64_t yy = int64_t(a[5]) + int64_t(x) * a[3] + int64_t(y) * a[4];
    const int64_t xi = xx >> 16, yi = yy >> 16;  // arithmetic shift: floor
    uint8_t* o = out + pix * C;
    if (xi >= 0 && xi < s && yi >= 0 && yi < s) {
      const uint8_t* p = in + (yi * s + xi) * C;
      for (int c = 0; c < C; ++c) o[c] = p[c];
    } else {
      for (int c = 0; c < C; ++c) o[c] = uint8_t(fill);
    }
  });
  ctx.sync();
}

// The whole view. src: [H, W, C] of this image; writes out [C, s, s] through the view's LUT.
template <class Ctx>
AUG_FN void run_view(const Ctx& ctx, const clsa_augment_view& view, const ViewConst& vc, const clsa_augment_params& p,
                     const uint8_t* src, int H, int W, int C, const Scratch& sc, float* out) {
  (void)H;
  const int s = vc.size, pixels = s * s, count = pixels * C;
  uint8_t* cur = sc.a;
  uint8_t* alt = sc.b;

  // 1. crop + resize: horizontal pass into t (crop_h rows of s), vertical pass into cur.
  {
    const int cw = p.crop_w, ch = p.crop_h, cx = p.crop_x, cy = p.crop_y;
    uint8_t* t = sc.t;
    int32_t* hx = sc.coef;
    int32_t* vy = sc.coef + s * (sc.taps + 2);
    resample_coeffs(ctx, cw, s, hx, sc.taps);
    resample_coeffs(ctx, ch, s, vy, sc.taps);
    ctx.sync();
    ctx.each2d(ch, s, [&](int row, int xx) {
      const uint8_t* line = src + (int64_t(cy + row) * W + cx) * C;
      resample_apply(hx + xx * (sc.taps + 2), C, [&](int x) { return line + x * C; }, t + (row * s + xx) * C);
    });
    ctx.sync();
    ctx.each2d(s, s, [&](int yy, int xx) {
      resample_apply(vy + yy * (sc.taps + 2), C, [&](int y) { return t + (y * s + xx) * C; }, cur + (yy * s + xx) * C);
    });
    ctx.sync();
  }

  // 2. colour jitter, in the drawn order.
  if (p.jitter) {
    for (int k = 0; k < 4; ++k) {
      switch (p.jitter_order[k]) {
        case 0: op_brightness(ctx, cur, count, p.brightness); break;
        case 1: op_contrast(ctx, cur, pixels, C, p.contrast); break;
        case 2: op_color(ctx, cur, pixels, C, p.saturation); break;
        case 3: op_hue(ctx, cur, pixels, C, p.hue_shift); break;
        default: break;  // -1: a zero-strength transform, skipped
      }
    }
  }
  // 3. grayscale.
  if (p.grayscale) op_grayscale(ctx, cur, pixels, C);
  // 4. Gaussian blur: 3 horizontal box passes, then 3 vertical (BoxBlur.c ImagingBoxBlur).
  if (p.blur && p.blur_box_radius != 0.0f) {
    for (int pass = 0; pass < 6; ++pass) {
      box_blur_pass(ctx, cur, alt, s, C, p.blur_box_radius, pass >= 3);
      uint8_t* tmp = cur; cur = alt; alt = tmp;
    }
  }
  // 5. horizontal flip.
  if (p.flip) {
    ctx.each2d(s, s, [&](int y, int x) {
      for (int c = 0; c < C; ++c) alt[(y * s + x) * C + c] = cur[(y * s + (s - 1 - x)) * C + c];
    });
    ctx.sync();
    uint8_t* tmp = cur; cur = alt; alt = tmp;
  }
  // 6. RandAugment.
  for (int k = 0; k < p.ra_count; ++k) {
    if (!p.ra_applied[k]) continue;
    switch (p.ra_op[k]) {
      case CLSA_RA_AUTOCONTRAST: op_autocontrast(ctx, cur, pixels, C, sc); break;
      case CLSA_RA_BRIGHTNESS: op_brightness(ctx, cur, count, p.ra_factor[k]); break;
      case CLSA_RA_COLOR: op_color(ctx, cur, pixels, C, p.ra_factor[k]); break;
      case CLSA_RA_CONTRAST: op_contrast(ctx, cur, pixels, C, p.ra_factor[k]); break;
      case CLSA_RA_EQUALIZE: op_equalize(ctx, cur, pixels, C, sc); break;
      case CLSA_RA_POSTERIZE: {
        const uint8_t mask = uint8_t(~((1 << (8 - p.ra_int[k])) - 1));
        ctx.each(count, [&](int i) { cur[i] = uint8_t(cur[i] & mask); });
        ctx.sync();
        break;
      }
      case CLSA_RA_SOLARIZE: {
        const int th = p.ra_int[k];
        ctx.each(count, [&](int i) { cur[i] = cur[i] < th ? cur[i] : uint8_t(255 - cur[i]); });
        ctx.sync();
        break;
      }
      case CLSA_RA_SHARPNESS: {
        op_sharpness(ctx, cur, alt, s, C, p.ra_factor[k]);
        uint8_t* tmp = cur; cur = alt; alt = tmp;
        break;
      }
      case CLSA_RA_ROTATE:
      case CLSA_RA_SHEAR_X:
      case CLSA_RA_SHEAR_Y:
      case CLSA_RA_TRANSLATE_X:
      case CLSA_RA_TRANSLATE_Y: {
        op_affine(ctx, cur, alt, s, C, p.ra_affine[k], view.ra_fill);
        uint8_t* tmp = cur; cur = alt; alt = tmp;
        break;
      }
      default: break;  // identity
    }
  }
  // 7. ToTensor + Normalize, planar output.
  ctx.each2d(C, pixels, [&](int c, int pix) { out[c * pixels + pix] = vc.lut[c][cur[pix * C + c]]; });
}

}  // namespace clsa::aug
