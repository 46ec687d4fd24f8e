// Internal (not part of clsa.h): CUDA-event timing of the device kernels for bench/gpu. The
// addon's bench-only bindings (native/addon/bench.cpp) call these; a CPU-only build answers
// CLSA_ERR_NOT_COMPILED.
#pragma once
#include <cstddef>
#include <cstdint>

#include "clsa/clsa.h"

namespace clsa::bench {

// Each sample runs the call once per input set back to back between two events and records
// the mean per call (ms) in times_ms[sample]; `warmup` untimed rounds first.
struct Timing {
  int warmup = 3;
  int samples = 20;
};

// The head on device tensors: `sets` input sets (weak/strong/keys/queue) share desc and the
// outputs of `out` (grad_weak, grad_strong, stats). The workspace is allocated once; its size
// and the drop of cudaMemGetInfo's free bytes around that allocation are reported.
clsa_status time_head(const clsa_head_desc& d, const clsa_head_tensors* sets, int nsets, const clsa_head_tensors& out,
                      Timing tm, float* times_ms, size_t* workspace_bytes, int64_t* free_drop);
clsa_status time_momentum(int32_t index, float* target, const float* source, int64_t count, float m, Timing tm,
                          float* times_ms);
clsa_status time_enqueue(int32_t index, float* queue, int64_t k, int64_t d, const float* keys, int64_t n,
                         bool normalize, Timing tm, float* times_ms);

}  // namespace clsa::bench
