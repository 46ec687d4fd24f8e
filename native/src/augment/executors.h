// The two executors of clsa_augment_apply. The dispatcher (augment/api.cpp) has validated the
// batch and built one ViewConst per view (normalisation table + output pointer).
#pragma once
#include "augment/pipeline.h"
#include "clsa/augment.h"

namespace clsa::aug {

clsa_status apply_cpu(const clsa_augment_batch& b, const ViewConst* vcs);

#ifdef CLSA_WITH_CUDA
clsa_status apply_cuda(const clsa_augment_batch& b, const ViewConst* vcs);
#endif

}  // namespace clsa::aug
