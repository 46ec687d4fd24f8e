// CUDA-event timing for bench/gpu (internal; see bench_internal.h). Samples are batches of
// back-to-back calls so that the GPU never waits for the host between kernels.
#include <vector>

#include "../bench_internal.h"
#include "common.cuh"
#include "cuda_api.h"

namespace clsa::bench::cuda_impl {
namespace {

struct Events {
  cudaEvent_t a = nullptr, b = nullptr;
  ~Events() {
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
  }
};

// Runs body(i) for i < per_sample between two events, `samples` times after `warmup` rounds.
template <class F>
clsa_status time_loop(Timing tm, int per_sample, float* times_ms, F body) {
  Events ev;
  CLSA_CUDA_TRY(cudaEventCreate(&ev.a), "cudaEventCreate");
  CLSA_CUDA_TRY(cudaEventCreate(&ev.b), "cudaEventCreate");
  for (int w = 0; w < tm.warmup; ++w)
    for (int i = 0; i < per_sample; ++i) CLSA_TRY(body(i));
  CLSA_CUDA_TRY(cudaDeviceSynchronize(), "cudaDeviceSynchronize (warm-up)");
  for (int s = 0; s < tm.samples; ++s) {
    CLSA_CUDA_TRY(cudaEventRecord(ev.a, nullptr), "cudaEventRecord");
    for (int i = 0; i < per_sample; ++i) CLSA_TRY(body(i));
    CLSA_CUDA_TRY(cudaEventRecord(ev.b, nullptr), "cudaEventRecord");
    CLSA_CUDA_TRY(cudaEventSynchronize(ev.b), "cudaEventSynchronize");
    float ms = 0;
    CLSA_CUDA_TRY(cudaEventElapsedTime(&ms, ev.a, ev.b), "cudaEventElapsedTime");
    times_ms[s] = ms / float(per_sample);
  }
  return CLSA_OK;
}

}  // namespace

clsa_status time_head(const clsa_head_desc& d, const clsa_head_tensors* sets, int nsets, const clsa_head_tensors& out,
                      Timing tm, float* times_ms, size_t* workspace_bytes, int64_t* free_drop) {
  if (nsets < 1) return fail(CLSA_ERR_INVALID_ARGUMENT, "sets: expected at least one input set but got %d", nsets);
  if (d.device != CLSA_DEVICE_CUDA) return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->device: expected CUDA");
  size_t bytes = 0;
  CLSA_TRY(clsa_head_workspace_size(&d, &bytes));
  CLSA_TRY(cuda::use_device(d.device_index));
  CLSA_CUDA_TRY(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  size_t free0 = 0, free1 = 0, total = 0;
  CLSA_CUDA_TRY(cudaMemGetInfo(&free0, &total), "cudaMemGetInfo");
  void* ws = nullptr;
  CLSA_TRY(cuda::device_alloc(d.device_index, bytes, &ws));
  CLSA_CUDA_TRY(cudaMemGetInfo(&free1, &total), "cudaMemGetInfo");
  *workspace_bytes = bytes;
  *free_drop = int64_t(free0) - int64_t(free1);
  clsa_status s = time_loop(tm, nsets, times_ms, [&](int i) {
    clsa_head_tensors t = sets[i];
    t.grad_weak = out.grad_weak;
    t.grad_strong = out.grad_strong;
    t.stats = out.stats;
    return clsa_head_forward_backward(&d, &t, ws, bytes);
  });
  cudaDeviceSynchronize();
  cuda::device_free(d.device_index, ws);
  return s;
}

clsa_status time_momentum(int32_t index, float* target, const float* source, int64_t count, float m, Timing tm,
                          float* times_ms) {
  CLSA_TRY(cuda::use_device(index));
  return time_loop(tm, 10, times_ms,
                   [&](int) { return clsa_momentum_update(CLSA_DEVICE_CUDA, index, target, source, count, m, nullptr); });
}

clsa_status time_enqueue(int32_t index, float* queue, int64_t k, int64_t d, const float* keys, int64_t n,
                         bool normalize, Timing tm, float* times_ms) {
  CLSA_TRY(cuda::use_device(index));
  int64_t pointer = 0;
  return time_loop(tm, 10, times_ms, [&](int) {
    return clsa_queue_enqueue(CLSA_DEVICE_CUDA, index, queue, k, d, keys, n, normalize ? 1 : 0, &pointer, nullptr);
  });
}

}  // namespace clsa::bench::cuda_impl
