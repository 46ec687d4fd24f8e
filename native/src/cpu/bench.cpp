#include "bench.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "threadpool.h"

namespace clsa::cpu {

void bench_memcpy(void* dst, const void* src, size_t bytes) {
  constexpr size_t kChunk = size_t(1) << 18;  // 256 KB, as momentum_update's chunks
  const int64_t tasks = int64_t((bytes + kChunk - 1) / kChunk);
  parallel_for(tasks, [&](int64_t task, int) {
    const size_t at = size_t(task) * kChunk, n = std::min(kChunk, bytes - at);
    std::memcpy(static_cast<char*>(dst) + at, static_cast<const char*>(src) + at, n);
  });
}

}  // namespace clsa::cpu
