// CPU back end of the evaluation kernels (clsa/eval.h): fused similarity + top-k for the kNN
// monitor and the linear probe's training loop.
#pragma once
#include <cstdint>
#include "clsa/clsa.h"

namespace clsa::cpu {

// The caller's cancel flag (another thread may set it at any time).
inline bool cancel_requested(const int32_t* flag) { return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0; }

// s[r * cols + t] = a_r . bt[:, t] for r < rows, t < cols. a: [rows, d] row-major with rows a
// multiple of `mr`; bt: [d, cols] (a tile of train rows, packed transposed) with cols a multiple
// of `cols_step`.
using GemmTileFn = void (*)(const float* a, int64_t rows, const float* bt, int64_t cols, int64_t d, float* s);
struct DotKernels {
  const char* name;
  int mr;
  int cols_step;
  GemmTileFn gemm_tile;
};
const DotKernels& dot_kernels();  // the best variant this CPU supports

clsa_status knn_topk(const clsa_knn_desc& desc, const float* train, const float* test, int32_t* out_index,
                     float* out_sim);

clsa_status probe_train(const clsa_probe_desc& desc, const float* x, const int32_t* labels, const int32_t* order,
                        float* weight, float* bias, float* epoch_loss);
clsa_status probe_lbfgs(const clsa_probe_lbfgs_desc& desc, const float* x, const int32_t* labels, float* weight,
                        float* bias, clsa_probe_lbfgs_report* report);
clsa_status probe_predict(int64_t n, int64_t d, int32_t classes, const float* x, const float* weight,
                          const float* bias, int32_t* out_class);

}  // namespace clsa::cpu
