// CPU back end of the evaluation kernels (clsa/eval.h): fused similarity + top-k for the kNN
// monitor and the linear probe's training loop.
#pragma once
#include <cstdint>
#include "clsa/clsa.h"

namespace clsa::cpu {

// s[r * lds + t] = a_r . b_t for r < ra, t < rb (a: [ra, d], b: [rb, d], both row-major).
using DotTileFn = void (*)(const float* a, int64_t ra, const float* b, int64_t rb, int64_t d, float* s, int64_t lds);
struct DotKernels {
  const char* name;
  DotTileFn dot_tile;
};
const DotKernels& dot_kernels();  // the best variant this CPU supports

clsa_status knn_topk(const clsa_knn_desc& desc, const float* train, const float* test, int32_t* out_index,
                     float* out_sim);

clsa_status probe_train(const clsa_probe_desc& desc, const float* x, const int32_t* labels, const int32_t* order,
                        float* weight, float* bias, float* epoch_loss);
clsa_status probe_predict(int64_t n, int64_t d, int32_t classes, const float* x, const float* weight,
                          const float* bias, int32_t* out_class);

}  // namespace clsa::cpu
