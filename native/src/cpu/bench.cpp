#include "bench.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "threadpool.h"

namespace clsa::cpu {

void bench_memcpy(void* dst, const void* src, size_t bytes, bool libc) {
  constexpr size_t kChunk = size_t(1) << 18;  // 256 KB, as momentum_update's chunks
  const int64_t tasks = int64_t((bytes + kChunk - 1) / kChunk);
  parallel_for(tasks, [&](int64_t task, int) {
    const size_t at = size_t(task) * kChunk, n = std::min(kChunk, bytes - at);
    char* d = static_cast<char*>(dst) + at;
    const char* s = static_cast<const char*>(src) + at;
    if (libc) {
      std::memcpy(d, s, n);
    } else {  // a plain loop the compiler vectorises: the same access pattern as the EMA's
      float* __restrict df = reinterpret_cast<float*>(d);
      const float* __restrict sf = reinterpret_cast<const float*>(s);
      const size_t nf = n / sizeof(float);
#pragma GCC ivdep
      for (size_t i = 0; i < nf; ++i) df[i] = sf[i];
      std::memcpy(d + nf * sizeof(float), s + nf * sizeof(float), n - nf * sizeof(float));
    }
  });
}

}  // namespace clsa::cpu
