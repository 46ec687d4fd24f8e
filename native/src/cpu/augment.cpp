// CPU executor of the augmentation pipelines: (view, image) pairs spread over the worker pool in
// chunks, each pair run start to finish by one worker in its own scratch. The pairs are
// independent and their parameters drawn beforehand, so the output does not depend on the
// number of threads.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include <algorithm>
#include <vector>

#include "augment/draw.h"
#include "augment/executors.h"
#include "cpu/threadpool.h"

namespace clsa::aug {
namespace {

struct CpuCtx {
  static constexpr bool kSequential = true;
  template <class F>
  void each(int n, F&& f) const {
    for (int i = 0; i < n; ++i) f(i);
  }
  template <class F>
  void each2d(int rows, int cols, F&& f) const {
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) f(r, c);
  }
  void sync() const {}
  int32_t sum(int32_t partial) const { return partial; }
  void atomic_add(int32_t* p, int32_t v) const { *p += v; }
};

}  // namespace

clsa_status apply_cpu(const clsa_augment_batch& b, const ViewConst* vcs) {
  const int64_t n = b.n, V = b.view_count;
  if (n == 0) return CLSA_OK;
  int64_t scratch = 0;
  for (int v = 0; v < V; ++v) scratch = std::max(scratch, scratch_layout(vcs[v].size, b.height, b.width, b.channels).total);
  const int workers = cpu::pool_threads();
  std::vector<std::vector<uint8_t>> buffers(size_t(workers), std::vector<uint8_t>(size_t(scratch), uint8_t(0)));
  const int64_t pairs = n * V;
  // Small images take microseconds: hand out chunks so the pool's per-task cost stays small.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(64, pairs / (int64_t(workers) * 8)));
  const int64_t tasks = (pairs + chunk - 1) / chunk;
  const int64_t image_bytes = int64_t(b.height) * b.width * b.channels;
  cpu::parallel_for(tasks, [&](int64_t task, int worker) {
    CpuCtx ctx;
    uint8_t* base = buffers[size_t(worker)].data();
    const int64_t end = std::min(pairs, (task + 1) * chunk);
    for (int64_t pair = task * chunk; pair < end; ++pair) {
      const int64_t v = pair / n, i = pair % n;
      const ViewConst& vc = vcs[v];
      const Scratch sc = scratch_at(base, scratch_layout(vc.size, b.height, b.width, b.channels));
      const int64_t out_elems = int64_t(vc.size) * vc.size * b.channels;
      run_view(ctx, b.views[v], vc, b.params[v * n + i], b.images + i * image_bytes, b.height, b.width, b.channels, sc,
               vc.out + i * out_elems);
    }
  });
  return CLSA_OK;
}

}  // namespace clsa::aug
