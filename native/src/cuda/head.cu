// The fused CLSA head on CUDA. Placeholder until the CUDA kernels issue lands: it reports
// CLSA_ERR_UNSUPPORTED rather than computing anything.
#include "common.cuh"
#include "cuda_api.h"

namespace clsa::cuda {

size_t head_workspace_size(const clsa_head_desc&) { return 0; }

clsa_status head_fused(const clsa_head_desc&, const clsa_head_tensors&, void*, size_t) {
  return fail(CLSA_ERR_UNSUPPORTED, "fused head: the CUDA kernel is not implemented in this build yet");
}

}  // namespace clsa::cuda
