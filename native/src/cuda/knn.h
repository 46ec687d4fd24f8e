// CUDA twin of the kNN fused similarity + top-k (cpu/knn.cpp). Compiled only with nvcc.
#pragma once
#include "clsa/clsa.h"

namespace clsa::cuda {
clsa_status knn_topk(const clsa_knn_desc& desc, const float* train, const float* test, int32_t* out_index,
                     float* out_sim);
}  // namespace clsa::cuda
