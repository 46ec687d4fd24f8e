// Fused cosine similarity + running top-k on the CPU (the kNN monitor's heavy part).
//
// Test rows are split into blocks, one block per pool task; each task sweeps the train set in
// tiles, computes the block x tile dot products into a small per-worker buffer, scales them by
// the inverse norms and offers them to each row's top-k min-heap. The heaps live in the output
// arrays themselves and are sorted in place at the end, so the whole call holds O(n) norms plus
// one block x tile buffer per worker — never the n_test x n_train matrix.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "../internal.h"
#include "knn.h"
#include "threadpool.h"

namespace clsa::cpu {
namespace dot_generic { extern const DotKernels dot_kernels_variant; }
#if defined(__x86_64__)
namespace dot_avx2 { extern const DotKernels dot_kernels_variant; }
namespace dot_avx512 { extern const DotKernels dot_kernels_variant; }
#endif

namespace {

const DotKernels* pick() {
  const char* want = std::getenv("CLSA_CPU_KERNEL");  // tests force each variant
  std::string w = want ? want : "";
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (w == "generic") return &dot_generic::dot_kernels_variant;
  if (w == "avx2" && has2) return &dot_avx2::dot_kernels_variant;
  if ((w.empty() || w == "avx512") && has512) return &dot_avx512::dot_kernels_variant;
  if (has2) return &dot_avx2::dot_kernels_variant;
#endif
  return &dot_generic::dot_kernels_variant;
}

// Heap order: the root is the *worst* kept neighbour. Worse = smaller similarity, or the same
// similarity and a larger train index (so the smaller index wins ties, as eval.h documents).
inline bool worse(float sa, int32_t ia, float sb, int32_t ib) { return sa < sb || (sa == sb && ia > ib); }

struct Heap {
  float* sim;
  int32_t* idx;
  int64_t size, cap;

  void sift_down(int64_t i) {
    for (;;) {
      int64_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < size && worse(sim[l], idx[l], sim[m], idx[m])) m = l;
      if (r < size && worse(sim[r], idx[r], sim[m], idx[m])) m = r;
      if (m == i) return;
      std::swap(sim[i], sim[m]);
      std::swap(idx[i], idx[m]);
      i = m;
    }
  }
  void offer(float s, int32_t j) {
    if (size < cap) {
      int64_t i = size++;
      sim[i] = s;
      idx[i] = j;
      while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!worse(sim[i], idx[i], sim[p], idx[p])) break;
        std::swap(sim[i], sim[p]);
        std::swap(idx[i], idx[p]);
        i = p;
      }
    } else if (worse(sim[0], idx[0], s, j)) {
      sim[0] = s;
      idx[0] = j;
      sift_down(0);
    }
  }
  // Best first: repeatedly move the worst to the back.
  void sort_best_first() {
    for (int64_t n = size; n > 1; --n) {
      std::swap(sim[0], sim[n - 1]);
      std::swap(idx[0], idx[n - 1]);
      size = n - 1;
      sift_down(0);
    }
    size = cap;
  }
};

void inverse_norms(const float* x, int64_t rows, int64_t d, float* inv) {
  const int64_t chunk = 256;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t t, int) {
    const int64_t r1 = std::min(rows, (t + 1) * chunk);
    for (int64_t r = t * chunk; r < r1; ++r) {
      double s = 0;
      const float* p = x + r * d;
      for (int64_t c = 0; c < d; ++c) s += double(p[c]) * p[c];
      inv[r] = s > 0 ? float(1.0 / std::sqrt(s)) : 0.0f;
    }
  });
}

}  // namespace

const DotKernels& dot_kernels() {
  static const DotKernels* k = pick();
  return *k;
}

clsa_status knn_topk(const clsa_knn_desc& desc, const float* train, const float* test, int32_t* out_index,
                     float* out_sim) {
  const int64_t nt = desc.n_train, nq = desc.n_test, d = desc.d, k = desc.k;
  const DotKernels& dk = dot_kernels();
  constexpr int64_t kRows = 64;  // test rows per task (a multiple of every variant's mr)
  // Train rows per tile, a multiple of every variant's column step (48, 24, 12); the packed tile
  // is d x tile floats and should stay in L2 while the block of test rows sweeps it.
  const int64_t tile = d <= 1024 ? 192 : 96;
  const int workers = pool_threads();
  const int64_t per_worker = kRows * d + d * tile + kRows * tile;
  std::vector<float> inv_train, inv_test, buf;
  try {
    inv_train.resize(size_t(nt));
    inv_test.resize(size_t(nq));
    buf.resize(size_t(workers) * size_t(per_worker));
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "knn: could not allocate %lld floats of norms and tile buffers",
                (long long)(nt + nq + workers * per_worker));
  }
  inverse_norms(train, nt, d, inv_train.data());
  inverse_norms(test, nq, d, inv_test.data());
  bool cancelled = false;  // written only as true, read after the pool joins
  parallel_for((nq + kRows - 1) / kRows, [&](int64_t task, int worker) {
    if (cancel_requested(desc.cancel)) {
      cancelled = true;
      return;
    }
    const int64_t r0 = task * kRows, rows = std::min(kRows, nq - r0);
    const int64_t rows_pad = (rows + dk.mr - 1) / dk.mr * dk.mr;
    float* a = buf.data() + size_t(worker) * size_t(per_worker);
    float* bt = a + kRows * d;
    float* s = bt + d * tile;
    std::memcpy(a, test + r0 * d, size_t(rows * d) * sizeof(float));
    std::memset(a + rows * d, 0, size_t((rows_pad - rows) * d) * sizeof(float));
    Heap heaps[kRows];
    for (int64_t r = 0; r < rows; ++r) heaps[r] = Heap{out_sim + (r0 + r) * k, out_index + (r0 + r) * k, 0, k};
    for (int64_t t0 = 0; t0 < nt; t0 += tile) {
      if ((t0 / tile) % 64 == 63 && cancel_requested(desc.cancel)) {
        cancelled = true;
        return;
      }
      const int64_t cols = std::min(tile, nt - t0);
      const int64_t cols_pad = (cols + dk.cols_step - 1) / dk.cols_step * dk.cols_step;
      // Pack the tile transposed, [d, cols_pad], zero columns past the end.
      for (int64_t t = 0; t < cols; ++t) {
        const float* src = train + (t0 + t) * d;
        for (int64_t c = 0; c < d; ++c) bt[c * cols_pad + t] = src[c];
      }
      for (int64_t t = cols; t < cols_pad; ++t)
        for (int64_t c = 0; c < d; ++c) bt[c * cols_pad + t] = 0.0f;
      dk.gemm_tile(a, rows_pad, bt, cols_pad, d, s);
      const float* it = inv_train.data() + t0;
      for (int64_t r = 0; r < rows; ++r) {
        const float ir = inv_test[r0 + r];
        const float* sr = s + r * cols_pad;
        Heap& h = heaps[r];
        if (h.size == h.cap) {
          // Full heap: most candidates lose to the root; test them before calling offer.
          const float root = h.sim[0];
          for (int64_t j = 0; j < cols; ++j) {
            const float v = sr[j] * ir * it[j];
            if (v >= root) h.offer(v, int32_t(t0 + j));
          }
        } else {
          for (int64_t j = 0; j < cols; ++j) h.offer(sr[j] * ir * it[j], int32_t(t0 + j));
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) heaps[r].sort_best_first();
  });
  if (cancelled) return fail(CLSA_ERR_CANCELLED, "knn: cancelled");
  return CLSA_OK;
}

}  // namespace clsa::cpu
