// Run-time choice of the GEMM variant and the pool-parallel driver.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

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

// nullptr when bf16 can run, else why not.
const char* choose_bf16() {
#if defined(__x86_64__)
  // CLSA_CPU_KERNEL (tests force the head's and kNN's variants with it) naming a level below
  // AVX-512 turns bf16 off too, so the refusal can be tested on a CPU that has it.
  const char* want = std::getenv("CLSA_CPU_KERNEL");
  if (want && *want && std::string(want) != "avx512") return "is turned off here by CLSA_CPU_KERNEL";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bf16"))
    return nullptr;
  return "this CPU does not have";
#else
  return "this CPU (not x86-64) does not have";
#endif
}

const char* bf16_unavailable() {
  static const char* why = choose_bf16();
  return why;
}

// Misuse (bf16 asked for where it is not supported) shows as NaN, never as an fp32 result.
void poison(float* c, int64_t m, int64_t n, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace

bool gemm_bf16_supported() { return bf16_unavailable() == nullptr; }
const char* gemm_bf16_unsupported_reason() { return bf16_unavailable(); }

void gemm(const GemmArgs& g) {
  if (g.precision == Precision::fp32) return variant().fn(g);
#if defined(__x86_64__)
  // (b_packed holds the fp32 panels' layout, and a_rows are fp32 rows the bf16 kernel would have
  // to round for every column panel: neither is read there.)
  if (gemm_bf16_supported() && !g.b_packed && !g.a_rows) return avx512bf16::gemm(g);
#endif
  if (g.m > 0 && g.n > 0) poison(g.c, g.m, g.n, g.ldc);
}

void to_bf16(const float* x, bf16_t* y, int64_t count) {
#if defined(__x86_64__)
  if (gemm_bf16_supported()) return avx512bf16::to_bf16(x, y, count);
#endif
  (void)x;
  for (int64_t i = 0; i < count; ++i) y[i] = 0x7fc0;  // bf16 NaN
}

void gemm_nt_rows_bf16(int64_t m, int64_t n, int64_t k, const bf16_t* a, int64_t lda, const bf16_t* const* brows,
                       float* c, int64_t ldc, bool accumulate) {
#if defined(__x86_64__)
  if (gemm_bf16_supported()) return avx512bf16::gemm_nt_rows(m, n, k, a, lda, brows, c, ldc, accumulate);
#endif
  (void)k, (void)a, (void)lda, (void)brows, (void)accumulate;
  if (m > 0 && n > 0) poison(c, m, n, ldc);
}
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
