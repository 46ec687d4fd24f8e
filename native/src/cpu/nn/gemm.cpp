// Run-time choice of the GEMM variant and the pool-parallel driver.
#include "gemm.h"

#include <algorithm>

#include "../threadpool.h"

namespace clsa::cpu::nn {
namespace {

using GemmFn = void (*)(const GemmArgs&);

using GemmNtRowsFn = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, const float* const*, float*, int64_t,
                              bool);

struct Variant {
  GemmFn fn;
  const char* name;
  int (*nr)();
  GemmNtRowsFn nt_rows;
};

Variant choose() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq"))
    return {avx512::gemm, "avx512", avx512::nr, avx512::gemm_nt_rows};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {avx2::gemm, "avx2", avx2::nr, avx2::gemm_nt_rows};
#endif
  return {generic::gemm, "generic", generic::nr, generic::gemm_nt_rows};
}

const Variant& variant() {
  static const Variant v = choose();
  return v;
}

}  // namespace

void gemm(const GemmArgs& g) { variant().fn(g); }
const char* gemm_variant() { return variant().name; }
void gemm_nt_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* brows, float* c,
                  int64_t ldc, bool accumulate) {
  variant().nt_rows(m, n, k, a, lda, brows, c, ldc, accumulate);
}
int gemm_nr() { return variant().nr(); }

void gemm_parallel(const GemmArgs& g) {
  const double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
  const int threads = pool_threads();
  if (threads <= 1 || flops < 4e6) {
    gemm(g);
    return;
  }
  // Cut the larger side of C into a few blocks per thread; each block is an independent GEMM.
  const int64_t target = int64_t(threads) * 3;
  const bool split_n = g.n >= g.m;
  const int64_t len = split_n ? g.n : g.m;
  const int64_t align = split_n ? 64 : 16;
  int64_t block = std::max<int64_t>(align, (len + target - 1) / target);
  block = (block + align - 1) / align * align;
  const int64_t tasks = (len + block - 1) / block;
  parallel_for(tasks, [&](int64_t t, int) {
    GemmArgs s = g;
    s.b_packed = nullptr;  // (gemm_parallel takes plain operands only)
    const int64_t lo = t * block, hi = std::min(len, lo + block);
    if (split_n) {
      s.n = hi - lo;
      s.b = g.b + lo * g.csb;
      s.c = g.c + lo;
    } else {
      s.m = hi - lo;
      s.a = g.a + lo * g.rsa;
      s.c = g.c + lo * g.ldc;
    }
    gemm(s);
  });
}

}  // namespace clsa::cpu::nn
