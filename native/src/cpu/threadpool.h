// A small persistent worker pool for the CPU kernels.
//
// parallel_for hands out task indices from an atomic counter (dynamic scheduling: tiles of
// the queue cost the same, but the machine may be shared). Concurrent callers are serialised:
// the pool is sized to the cores, so two kernels at once would only fight over them.
#pragma once
#include <cstdint>
#include <functional>

namespace clsa::cpu {

// fn(task, worker) for task in [0, tasks); worker in [0, pool_threads()).
void parallel_for(int64_t tasks, const std::function<void(int64_t task, int worker)>& fn);

int pool_threads();
// 0 = hardware concurrency. Takes effect at the next parallel_for.
void set_pool_threads(int threads);

}  // namespace clsa::cpu
