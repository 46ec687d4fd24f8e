// The C API of the evaluation kernels (clsa/eval.h): argument checks, then dispatch to the CPU
// or CUDA back end. Friendly validation lives in TypeScript (lib/eval.ts); these checks are the
// last line for native consumers.
#include <cmath>

#include "clsa/clsa.h"
#include "cpu/knn.h"
#include "internal.h"
#ifdef CLSA_WITH_CUDA
#include "cuda/cuda_api.h"
#include "cuda/knn.h"
#endif

using namespace clsa;

namespace {

clsa_status check_range(const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected an integer in [%lld, %lld] but got %lld", name, (long long)lo,
                (long long)hi, (long long)v);
  return CLSA_OK;
}

clsa_status check_count(const char* name, int64_t a, int64_t b) {
  if ((__int128)a * b > kMaxElements)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: %lld x %lld elements exceed the limit of 2^62", name, (long long)a,
                (long long)b);
  return CLSA_OK;
}

}  // namespace

extern "C" {

clsa_status clsa_knn_topk(const clsa_knn_desc* desc, const float* train, const float* test, int32_t* out_index,
                          float* out_sim) {
  clear_error();
  if (!desc) return fail(CLSA_ERR_INVALID_ARGUMENT, "desc: expected a clsa_knn_desc but got NULL");
  CLSA_TRY(check_range("desc->n_train", desc->n_train, 1, INT32_MAX));
  CLSA_TRY(check_range("desc->n_test", desc->n_test, 1, kMaxDim));
  CLSA_TRY(check_range("desc->d", desc->d, 1, kMaxDim));
  CLSA_TRY(check_range("desc->k (1 <= k <= n_train)", desc->k, 1, desc->n_train));
  CLSA_TRY(check_count("train", desc->n_train, desc->d));
  CLSA_TRY(check_count("test", desc->n_test, desc->d));
  CLSA_TRY(check_count("out_index", desc->n_test, desc->k));
  if (!train) return fail(CLSA_ERR_INVALID_ARGUMENT, "train: expected [n_train, d] floats but got NULL");
  if (!test) return fail(CLSA_ERR_INVALID_ARGUMENT, "test: expected [n_test, d] floats but got NULL");
  if (!out_index) return fail(CLSA_ERR_INVALID_ARGUMENT, "out_index: expected [n_test, k] int32 but got NULL");
  if (!out_sim) return fail(CLSA_ERR_INVALID_ARGUMENT, "out_sim: expected [n_test, k] floats but got NULL");
  if (desc->device == CLSA_DEVICE_CPU) return cpu::knn_topk(*desc, train, test, out_index, out_sim);
  if (desc->device != CLSA_DEVICE_CUDA)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->device: expected CLSA_DEVICE_CPU (0) or CLSA_DEVICE_CUDA (1) but got %d",
                desc->device);
#ifdef CLSA_WITH_CUDA
  CLSA_TRY(cuda::check_device(desc->device_index));
  return cuda::knn_topk(*desc, train, test, out_index, out_sim);
#else
  return fail(CLSA_ERR_NOT_COMPILED, "clsa_knn_topk: this build of libclsa has no CUDA back end (compiled without nvcc)");
#endif
}

clsa_status clsa_probe_train(const clsa_probe_desc* desc, const float* x, const int32_t* labels, const int32_t* order,
                             float* weight, float* bias, float* epoch_loss) {
  clear_error();
  if (!desc) return fail(CLSA_ERR_INVALID_ARGUMENT, "desc: expected a clsa_probe_desc but got NULL");
  CLSA_TRY(check_range("desc->n", desc->n, 1, INT32_MAX));
  CLSA_TRY(check_range("desc->d", desc->d, 1, kMaxDim));
  CLSA_TRY(check_range("desc->classes", desc->classes, 2, 1 << 20));
  CLSA_TRY(check_range("desc->epochs", desc->epochs, 1, 1 << 24));
  CLSA_TRY(check_range("desc->batch", desc->batch, 1, kMaxDim));
  CLSA_TRY(check_count("x", desc->n, desc->d));
  CLSA_TRY(check_count("weight", desc->classes, desc->d));
  CLSA_TRY(check_count("order", desc->epochs, desc->n));
  if (!(desc->lr > 0) || !std::isfinite(desc->lr))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->lr: expected a finite number > 0 but got %g", desc->lr);
  if (!(desc->weight_decay >= 0) || !std::isfinite(desc->weight_decay))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->weight_decay: expected a finite number >= 0 but got %g",
                desc->weight_decay);
  if (!(desc->beta1 >= 0 && desc->beta1 < 1) || !(desc->beta2 >= 0 && desc->beta2 < 1))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->beta1/beta2: expected numbers in [0, 1) but got %g, %g", desc->beta1,
                desc->beta2);
  if (!(desc->eps > 0) || !std::isfinite(desc->eps))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->eps: expected a finite number > 0 but got %g", desc->eps);
  if (!x || !labels || !order || !weight || !bias)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "x, labels, order, weight, bias: expected non-NULL pointers");
  // Labels and the order index memory: a bad value would read out of bounds, so check them here.
  for (int64_t i = 0; i < desc->n; ++i)
    if (labels[i] < 0 || labels[i] >= desc->classes)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "labels[%lld]: expected a class in [0, %d) but got %d", (long long)i,
                  desc->classes, labels[i]);
  for (int64_t i = 0; i < int64_t(desc->epochs) * desc->n; ++i)
    if (order[i] < 0 || order[i] >= desc->n)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "order[%lld]: expected a row in [0, %lld) but got %d", (long long)i,
                  (long long)desc->n, order[i]);
  return cpu::probe_train(*desc, x, labels, order, weight, bias, epoch_loss);
}

clsa_status clsa_probe_lbfgs(const clsa_probe_lbfgs_desc* desc, const float* x, const int32_t* labels, float* weight,
                             float* bias, clsa_probe_lbfgs_report* report) {
  clear_error();
  if (!desc) return fail(CLSA_ERR_INVALID_ARGUMENT, "desc: expected a clsa_probe_lbfgs_desc but got NULL");
  CLSA_TRY(check_range("desc->n", desc->n, 1, INT32_MAX));
  CLSA_TRY(check_range("desc->d", desc->d, 1, kMaxDim));
  CLSA_TRY(check_range("desc->classes", desc->classes, 2, 1 << 20));
  CLSA_TRY(check_range("desc->max_iterations", desc->max_iterations, 1, 1 << 24));
  CLSA_TRY(check_range("desc->history", desc->history, 1, 64));
  CLSA_TRY(check_count("x", desc->n, desc->d));
  CLSA_TRY(check_count("weight", desc->classes, desc->d));
  if (!(desc->weight_decay > 0) || !std::isfinite(desc->weight_decay))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->weight_decay: expected a finite number > 0 but got %g",
                desc->weight_decay);
  if (!(desc->tolerance > 0) || !std::isfinite(desc->tolerance))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->tolerance: expected a finite number > 0 but got %g", desc->tolerance);
  if (!x || !labels || !weight || !bias)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "x, labels, weight, bias: expected non-NULL pointers");
  for (int64_t i = 0; i < desc->n; ++i)
    if (labels[i] < 0 || labels[i] >= desc->classes)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "labels[%lld]: expected a class in [0, %d) but got %d", (long long)i,
                  desc->classes, labels[i]);
  return cpu::probe_lbfgs(*desc, x, labels, weight, bias, report);
}

clsa_status clsa_probe_predict(int64_t n, int64_t d, int32_t classes, const float* x, const float* weight,
                               const float* bias, int32_t* out_class) {
  clear_error();
  CLSA_TRY(check_range("n", n, 1, kMaxDim));
  CLSA_TRY(check_range("d", d, 1, kMaxDim));
  CLSA_TRY(check_range("classes", classes, 1, 1 << 20));
  CLSA_TRY(check_count("x", n, d));
  if (!x || !weight || !bias || !out_class)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "x, weight, bias, out_class: expected non-NULL pointers");
  return cpu::probe_predict(n, d, classes, x, weight, bias, out_class);
}

}  // extern "C"
