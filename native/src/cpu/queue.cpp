// Ring-buffer enqueue of keys into the [K, D] queue.
#include <cmath>
#include <cstring>

#include "../internal.h"
#include "kernels.h"

namespace clsa::cpu {

clsa_status queue_enqueue(float* queue, int64_t k, int64_t d, const float* keys, int64_t n, bool normalize,
                          int64_t* pointer) {
  // With n > k only the last k keys survive; writing them alone gives the same ring state.
  // With n > k only the last k keys survive; writing them alone gives the same ring state.
  const int64_t skip = n > k ? n - k : 0;
  if (normalize) {  // check every row first so a bad row leaves the queue untouched
    for (int64_t r = skip; r < n; ++r) {
      double ss = 0;
      for (int64_t e = 0; e < d; ++e) ss += double(keys[r * d + e]) * keys[r * d + e];
      if (!(ss > 0) || !std::isfinite(ss))
        return fail(CLSA_ERR_INVALID_ARGUMENT, "keys: row %lld has norm %g; cannot normalise it", (long long)r,
                    std::sqrt(ss));
    }
  }
  for (int64_t r = skip; r < n; ++r) {
    const float* src = keys + r * d;
    float* dst = queue + ((*pointer + r) % k) * d;
    if (!normalize) {
      std::memcpy(dst, src, sizeof(float) * size_t(d));
      continue;
    }
    double ss = 0;
    for (int64_t e = 0; e < d; ++e) ss += double(src[e]) * src[e];
    const float inv = float(1.0 / std::sqrt(ss));
    for (int64_t e = 0; e < d; ++e) dst[e] = src[e] * inv;
  }
  *pointer = (*pointer + n) % k;
  return CLSA_OK;
}

}  // namespace clsa::cpu
