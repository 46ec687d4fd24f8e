// Shared helpers of the CUDA back end: error translation and device selection.
#pragma once
#include <cuda_runtime.h>
#include "../internal.h"

namespace clsa::cuda {

// Turns a CUDA error into a clsa status with the error's name in the message.
clsa_status cuda_fail(cudaError_t err, const char* what);

// Makes `index` the current device of the calling thread (checked).
clsa_status use_device(int32_t index);

}  // namespace clsa::cuda

#define CLSA_CUDA_TRY(call, what)                              \
  do {                                                         \
    cudaError_t clsa_cuda_e_ = (call);                         \
    if (clsa_cuda_e_ != cudaSuccess) return ::clsa::cuda::cuda_fail(clsa_cuda_e_, what); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define CLSA_CUDA_LAUNCH_CHECK(what) CLSA_CUDA_TRY(cudaGetLastError(), what)
