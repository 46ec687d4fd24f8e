// Host-side parameter drawing and the per-view tables both executors consume.
#pragma once
#include <cstdint>

#include "augment/pipeline.h"
#include "clsa/augment.h"

namespace clsa::aug {

// Draws the parameters of one (image, view) from the stream keyed by (seed, image, view_index).
void draw_one(const clsa_augment_view& view, int32_t height, int32_t width, uint64_t seed, uint64_t image,
              uint64_t view_index, clsa_augment_params& p);

// Fills the derived fields of p from its drawn fields (see clsa_augment_params).
void derive(const clsa_augment_view& view, clsa_augment_params& p);

// Bytes of scratch one (image, view) pair needs, and the layout the executors use.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline int64_t align16(int64_t x) { return (x + 15) & ~int64_t(15); }
struct ScratchLayout {
  int64_t hist, misc, lut, coef, a, b, t, total;
  int32_t taps;
};
// Resampling taps per output coordinate: at most 2 * support + 2 with support = in / out.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline int32_t max_taps(int32_t size, int32_t height, int32_t width) {
  const int32_t in = height > width ? height : width;
  return 2 * ((in + size - 1) / size) + 3;
}
#if defined(__CUDACC__)
__host__ __device__
#endif
inline ScratchLayout scratch_layout(int32_t size, int32_t height, int32_t width, int32_t channels) {
  ScratchLayout l;
  const int64_t img = int64_t(size) * size * channels;
  l.taps = max_taps(size, height, width);
  l.hist = 0;
  l.misc = l.hist + align16(int64_t(channels) * 256 * 4);
  l.lut = l.misc + align16(64 * 4);
  l.coef = l.lut + align16(int64_t(channels) * 256);
  l.a = l.coef + align16(int64_t(2) * size * (l.taps + 2) * 4);
  l.b = l.a + align16(img);
  l.t = l.b + align16(img);
  l.total = l.t + align16(int64_t(height) * size * channels);
  return l;
}
#if defined(__CUDACC__)
__host__ __device__
#endif
inline Scratch scratch_at(uint8_t* base, const ScratchLayout& l) {
  Scratch s;
  s.hist = reinterpret_cast<int32_t*>(base + l.hist);
  s.misc = reinterpret_cast<int32_t*>(base + l.misc);
  s.lut = base + l.lut;
  s.coef = reinterpret_cast<int32_t*>(base + l.coef);
  s.taps = l.taps;
  s.a = base + l.a;
  s.b = base + l.b;
  s.t = base + l.t;
  return s;
}

}  // namespace clsa::aug
