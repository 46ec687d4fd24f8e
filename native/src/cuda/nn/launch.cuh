// Small launch helpers shared by the memory-bound layer kernels (cuda/nn/*.cu).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace clsa::cuda::nn {

// Blocks for a grid-stride loop over `items` work items: enough to fill any current GPU several
// times over (4096 x 256 threads), fewer when there is less work. Never 0 (a 0-block launch is
// an error), so callers may pass items = 0 only when they skip the launch.
inline unsigned grid_for(int64_t items, int threads) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((items + threads - 1) / threads, 4096)));
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace clsa::cuda::nn
