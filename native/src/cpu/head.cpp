// Driver of the fused CPU head: plan, normalise, run the tiles in parallel, merge the partial
// states (flash-decoding), then turn (lse, O) per row into losses and gradients (docs/objective.md).
#include "head.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "../internal.h"
#include "threadpool.h"

namespace clsa::cpu {
namespace generic { extern const HeadKernels kernels; }
#if defined(__x86_64__)
namespace avx2 { extern const HeadKernels kernels; }
namespace avx512 { extern const HeadKernels kernels; }
#endif

namespace {

constexpr double kLn2 = 0.6931471805599453;
constexpr double kLog2e = 1.4426950408889634;

const HeadKernels* pick_kernels() {
  const char* want = std::getenv("CLSA_CPU_KERNEL");  // tests force each variant
  std::string w = want ? want : "";
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (w == "generic") return &generic::kernels;
  if (w == "avx2" && has2) return &avx2::kernels;
  if ((w.empty() || w == "avx512") && has512) return &avx512::kernels;
  if (has2) return &avx2::kernels;
#endif
  return &generic::kernels;
}

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Layout {
  size_t q, qpack, keys, norms, own, state, worker, sumw, total;
  int64_t worker_floats;
};

Layout layout(const clsa_head_desc& d, const HeadPlan& p) {
  Layout L{};
  const int64_t D = d.d, rb = int64_t(p.mr) * 8;
  size_t off = 0;
  auto take = [&](size_t floats) {
    size_t at = off;
    off += (floats * sizeof(float) + 63) / 64 * 64;
    return at;
  };
  L.q = take(size_t(p.rows_pad * D));
  L.qpack = take(size_t(p.rows_pad * D));
  L.keys = take(size_t(d.n * D));
  L.norms = take(size_t(p.rows + d.n));
  L.own = take(size_t(p.rows));
  L.state = take(size_t(p.splits * p.slots * (p.dpad + 2)));
  L.worker_floats = round_up(D * p.tile + p.tile * p.dpad + 2 * rb * p.tile, 16);
  L.worker = take(size_t(p.splits) * size_t(L.worker_floats));
  L.sumw = take(size_t(d.n * p.dpad));
  L.total = off + 64;  // slack for aligning a caller's pointer
  return L;
}

}  // namespace

const HeadKernels& head_kernels() {
  static const HeadKernels* k = pick_kernels();
  return *k;
}

HeadPlan plan_head(const clsa_head_desc& d) {
  const HeadKernels& k = head_kernels();
  HeadPlan p{};
  p.vw = k.vw;
  p.mr = k.mr;
  p.nv = k.nv;
  p.tile = kHeadTile;
  p.rows = (d.w + d.s) * d.n;
  p.rows_pad = round_up(p.rows, p.mr);
  const bool second = d.s > 0 && d.temperature != d.ddm_temperature;
  p.slots = p.rows_pad + (second ? round_up(d.w * d.n, p.mr) : 0);
  p.dpad = round_up(d.d, int64_t(p.nv) * p.vw);
  p.tiles = (d.n + d.k + p.tile - 1) / p.tile;
  p.workers = pool_threads();
  // Contiguous tile ranges, each with its own partial state, handed to threads dynamically:
  // the sum is the same whichever thread runs which range (deterministic for a given thread
  // count, and for any count up to 4), and a core slowed by another process does not hold up
  // the call by more than one range.
  p.splits = std::min<int64_t>(p.tiles, std::max<int64_t>(8, 2 * int64_t(p.workers)));
  p.bytes = layout(d, p).total;
  return p;
}

size_t head_workspace_size(const clsa_head_desc& d) { return plan_head(d).bytes; }

namespace {
// Scratch kept between calls when the caller passes none: a fresh allocation of this size is
// mmap-backed and would fault in its pages again on every call. A call that finds the cache
// busy (another thread inside the head) allocates its own.
struct ScratchCache {
  std::mutex mutex;
  std::unique_ptr<char[]> data;
  size_t bytes = 0;
};
ScratchCache& scratch_cache() {
  static ScratchCache* c = new ScratchCache();  // never destroyed: may be used during exit
  return *c;
}
}  // namespace

clsa_status head_fused(const clsa_head_desc& d, const clsa_head_tensors& t, void* workspace, size_t bytes) {
  const HeadPlan p = plan_head(d);
  const Layout L = layout(d, p);
  std::unique_ptr<char[]> owned;
  std::unique_lock<std::mutex> cached(scratch_cache().mutex, std::defer_lock);
  if (!workspace) {
    ScratchCache& sc = scratch_cache();
    constexpr size_t kCacheMax = size_t(64) << 20;  // larger scratch is not kept between calls
    if (L.total <= kCacheMax && cached.try_lock()) {
      if (sc.bytes < L.total) {
        sc.data.reset();
        sc.bytes = 0;
        sc.data.reset(new (std::nothrow) char[L.total]);
        if (sc.data) sc.bytes = L.total;
      }
      if (sc.data) workspace = sc.data.get();
      else cached.unlock();
    }
    if (!workspace) {
      owned.reset(new (std::nothrow) char[L.total]);
      if (!owned) return fail(CLSA_ERR_OUT_OF_MEMORY, "fused head: could not allocate %zu bytes of CPU scratch", L.total);
      workspace = owned.get();
    }
    bytes = L.total;
  }
  if (bytes < L.total)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "workspace_bytes: expected at least %zu bytes but got %zu", L.total, bytes);
  char* base = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(workspace) + 63) & ~uintptr_t(63));
  auto at = [&](size_t off) { return reinterpret_cast<float*>(base + off); };

  const int64_t N = d.n, D = d.d, W = d.w, S = d.s, WN = W * N, M = p.rows;
  float* q = at(L.q);
  float* kn = at(L.keys);
  float* norms = at(L.norms);  // [M] query norms, then [N] key norms
  float* own = at(L.own);
  float* state = at(L.state);
  const int64_t ss = p.dpad + 2;

  // 1. Normalise (or copy) queries and keys; zero the padded query rows.
  const int64_t nrow_tasks = std::max<int64_t>(1, std::min<int64_t>(M + N, 64));
  parallel_for(nrow_tasks, [&](int64_t task, int) {
    const int64_t r0 = (M + N) * task / nrow_tasks, r1 = (M + N) * (task + 1) / nrow_tasks;
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = r < WN ? t.weak + r * D : r < M ? t.strong + (r - WN) * D : t.keys + (r - M) * D;
      float* dst = r < M ? q + r * D : kn + (r - M) * D;
      double ss2 = 0;
      for (int64_t e = 0; e < D; ++e) ss2 += double(src[e]) * src[e];
      const double nr = d.normalize ? std::sqrt(ss2) : 1.0;
      norms[r] = float(nr);
      const float inv = float(1.0 / nr);
      for (int64_t e = 0; e < D; ++e) dst[e] = d.normalize ? src[e] * inv : src[e];
    }
  });
  std::memset(q + M * D, 0, sizeof(float) * size_t((p.rows_pad - M) * D));

  // 1b. Pack the queries by row groups for the S = Q X^T micro-kernel; reset the partial states.
  float* qpack = at(L.qpack);
  const int64_t mr = p.mr, groups = p.rows_pad / mr, ss0 = p.dpad + 2;
  parallel_for(std::min<int64_t>(groups, 64) + p.splits, [&](int64_t task, int) {
    const int64_t gt = std::min<int64_t>(groups, 64);
    if (task >= gt) {
      float* st = state + (task - gt) * p.slots * ss0;
      for (int64_t s = 0; s < p.slots; ++s) {
        std::memset(st + s * ss0, 0, sizeof(float) * size_t(p.dpad));
        st[s * ss0 + p.dpad] = -INFINITY;
        st[s * ss0 + p.dpad + 1] = 0.0f;
      }
      return;
    }
    for (int64_t g = groups * task / gt; g < groups * (task + 1) / gt; ++g)
      for (int64_t r = 0; r < mr; ++r)
        for (int64_t e = 0; e < D; ++e) qpack[(g * D + e) * mr + r] = q[(g * mr + r) * D + e];
  });

  // 2. The tiles of X, each swept for every row.
  HeadArgs a{};
  a.desc = &d;
  a.plan = &p;
  a.q = q;
  a.qpack = qpack;
  a.keys = kn;
  a.queue = t.queue;
  a.state = state;
  a.own = own;
  a.worker_buf = at(L.worker);
  a.worker_floats = L.worker_floats;
  a.scale1 = float(kLog2e / d.temperature);
  a.scale2 = float(kLog2e / d.ddm_temperature);
  const HeadKernels& k = head_kernels();
  parallel_for(p.splits, [&](int64_t split, int) {
    k.run_tiles(a, p.tiles * split / p.splits, p.tiles * (split + 1) / p.splits, int(split));
  });

  // 3. Merge split states into split 0: O normalised, m := max (log2 domain), l := lse (natural).
  std::vector<float> lse(size_t(p.slots)), mmax(size_t(p.slots));
  const int64_t slot_tasks = std::max<int64_t>(1, std::min<int64_t>(p.slots, 64));
  parallel_for(slot_tasks, [&](int64_t task, int) {
    const int64_t s0 = p.slots * task / slot_tasks, s1 = p.slots * (task + 1) / slot_tasks;
    std::vector<double> o(static_cast<size_t>(D));
    for (int64_t s = s0; s < s1; ++s) {
      float* dst = state + s * ss;
      float mx = -INFINITY;
      for (int64_t sp = 0; sp < p.splits; ++sp) mx = std::fmax(mx, state[(sp * p.slots + s) * ss + p.dpad]);
      double l = 0;
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t sp = 0; sp < p.splits; ++sp) {
        const float* st = state + (sp * p.slots + s) * ss;
        const double f = std::exp2(double(st[p.dpad]) - mx);
        l += f * st[p.dpad + 1];
        for (int64_t e = 0; e < D; ++e) o[size_t(e)] += f * st[e];
      }
      for (int64_t e = 0; e < D; ++e) dst[e] = float(o[size_t(e)] / l);
      mmax[size_t(s)] = mx;
      lse[size_t(s)] = float(kLn2 * (double(mx) + std::log2(l)));
    }
  });

  // 4. Losses and gradients per row.
  const double tau = d.temperature, tau2 = d.ddm_temperature, alpha = d.ddm_weight;
  const bool second = p.slots > p.rows_pad;
  auto o_at = [&](int64_t slot) { return state + slot * ss; };
  auto weak_o2 = [&](int64_t r) { return second ? o_at(p.rows_pad + r) : o_at(r); };
  float* sumw = at(L.sumw);  // [N][D]: sum_w O_tau2(q_wi)
  if (S > 0) {
    parallel_for(std::min<int64_t>(N, 64), [&](int64_t task, int) {
      const int64_t i0 = N * task / std::min<int64_t>(N, 64), i1 = N * (task + 1) / std::min<int64_t>(N, 64);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (int64_t w = 0; w < W; ++w) acc += weak_o2(w * N + i)[e];
          sumw[i * D + e] = float(acc);
        }
    });
  }
  const int64_t row_tasks = std::max<int64_t>(1, std::min<int64_t>(M, 64));
  std::vector<double> nce_part(size_t(row_tasks), 0.0), ddm_part(size_t(row_tasks), 0.0);
  std::vector<int64_t> correct_part(size_t(row_tasks), 0);
  parallel_for(row_tasks, [&](int64_t task, int) {
    const int64_t r0 = M * task / row_tasks, r1 = M * (task + 1) / row_tasks;
    std::vector<double> g(static_cast<size_t>(D));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r % N;
      const float* qr = q + r * D;
      const float* o = o_at(r);
      float* out;
      if (r < WN) {
        nce_part[size_t(task)] += (double(lse[size_t(r)]) - double(own[r]) / tau) / double(N);
        if (own[r] * a.scale1 >= mmax[size_t(r)]) correct_part[size_t(task)] += 1;
        out = t.grad_weak ? t.grad_weak + r * D : nullptr;
        if (!out) continue;
        const float* kr = kn + i * D;
        for (int64_t e = 0; e < D; ++e) g[size_t(e)] = (double(o[e]) - kr[e]) / (tau * double(N));
      } else {
        const float* sw = sumw + i * D;
        double dot = 0;
        for (int64_t e = 0; e < D; ++e) dot += double(qr[e]) * sw[e];
        ddm_part[size_t(task)] += (double(W) * lse[size_t(r)] - dot / tau2) / double(N);
        out = t.grad_strong ? t.grad_strong + (r - WN) * D : nullptr;
        if (!out) continue;
        for (int64_t e = 0; e < D; ++e)
          g[size_t(e)] = alpha * (double(W) * o[e] - double(sw[e])) / (tau2 * double(N));
      }
      if (d.normalize) {
        double dot = 0;
        for (int64_t e = 0; e < D; ++e) dot += double(qr[e]) * g[size_t(e)];
        const double inv = 1.0 / double(norms[r]);
        for (int64_t e = 0; e < D; ++e) out[e] = float((g[size_t(e)] - double(qr[e]) * dot) * inv);
      } else {
        for (int64_t e = 0; e < D; ++e) out[e] = float(g[size_t(e)]);
      }
    }
  });
  double nce = 0, ddm = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < row_tasks; ++i) {
    nce += nce_part[size_t(i)];
    ddm += ddm_part[size_t(i)];
    correct += correct_part[size_t(i)];
  }
  t.stats[0] = float(nce + alpha * ddm);
  t.stats[1] = float(nce);
  t.stats[2] = float(ddm);
  t.stats[3] = float(double(correct) / double(WN));
  return CLSA_OK;
}

}  // namespace clsa::cpu
