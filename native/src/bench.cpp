// Dispatch of the internal timing entry points (bench_internal.h): CUDA builds forward to
// native/src/cuda/bench.cu, CPU-only builds report that there is nothing to time.
#include "bench_internal.h"
#include "internal.h"

namespace clsa::bench {

#ifdef CLSA_WITH_CUDA
namespace cuda_impl {
clsa_status time_head(const clsa_head_desc&, const clsa_head_tensors*, int, const clsa_head_tensors&, Timing, float*,
                      size_t*, int64_t*);
clsa_status time_momentum(int32_t, float*, const float*, int64_t, float, Timing, float*);
clsa_status time_enqueue(int32_t, float*, int64_t, int64_t, const float*, int64_t, bool, Timing, float*);
}  // namespace cuda_impl
#endif

clsa_status time_head(const clsa_head_desc& d, const clsa_head_tensors* sets, int nsets, const clsa_head_tensors& out,
                      Timing tm, float* times_ms, size_t* workspace_bytes, int64_t* free_drop) {
  clear_error();
#ifdef CLSA_WITH_CUDA
  return cuda_impl::time_head(d, sets, nsets, out, tm, times_ms, workspace_bytes, free_drop);
#else
  (void)d; (void)sets; (void)nsets; (void)out; (void)tm; (void)times_ms; (void)workspace_bytes; (void)free_drop;
  return fail(CLSA_ERR_NOT_COMPILED, "time_head: this build has no CUDA back end");
#endif
}

clsa_status time_momentum(int32_t index, float* target, const float* source, int64_t count, float m, Timing tm,
                          float* times_ms) {
  clear_error();
#ifdef CLSA_WITH_CUDA
  return cuda_impl::time_momentum(index, target, source, count, m, tm, times_ms);
#else
  (void)index; (void)target; (void)source; (void)count; (void)m; (void)tm; (void)times_ms;
  return fail(CLSA_ERR_NOT_COMPILED, "time_momentum: this build has no CUDA back end");
#endif
}

clsa_status time_enqueue(int32_t index, float* queue, int64_t k, int64_t d, const float* keys, int64_t n,
                         bool normalize, Timing tm, float* times_ms) {
  clear_error();
#ifdef CLSA_WITH_CUDA
  return cuda_impl::time_enqueue(index, queue, k, d, keys, n, normalize, tm, times_ms);
#else
  (void)index; (void)queue; (void)k; (void)d; (void)keys; (void)n; (void)normalize; (void)tm; (void)times_ms;
  return fail(CLSA_ERR_NOT_COMPILED, "time_enqueue: this build has no CUDA back end");
#endif
}

}  // namespace clsa::bench
