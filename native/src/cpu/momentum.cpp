// EMA of a flat parameter buffer: target = m * target + (1 - m) * source. Memory-bound
// (12 bytes per parameter); split into large contiguous chunks so each core streams.
#include <algorithm>

#include "../internal.h"
#include "kernels.h"
#include "threadpool.h"

namespace clsa::cpu {

void momentum_update(float* target, const float* source, int64_t count, float m) {
  const float a = m, b = 1.0f - m;
  constexpr int64_t kChunk = int64_t(1) << 16;  // 256 KB of floats per task
  const int64_t tasks = (count + kChunk - 1) / kChunk;
  parallel_for(tasks, [&](int64_t task, int) {
    const int64_t i0 = task * kChunk, i1 = std::min(count, i0 + kChunk);
    float* __restrict t = target;
    const float* __restrict s = source;
#pragma GCC ivdep
    for (int64_t i = i0; i < i1; ++i) t[i] = a * t[i] + b * s[i];
  });
}

}  // namespace clsa::cpu
