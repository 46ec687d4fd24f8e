// The CUDA back end as seen by the C API dispatcher (api.cpp). Compiled only when nvcc is
// found (CLSA_WITH_CUDA); every function validates nothing the dispatcher already checked.
#pragma once
#include <cstddef>
#include <cstdint>
#include "clsa/clsa.h"

namespace clsa::cuda {

void backend_query(clsa_backend_info* info);
// CLSA_OK when device `index` exists and is usable, else CLSA_ERR_NO_DEVICE with a message.
clsa_status check_device(int32_t index);
// Makes `index` the calling thread's current device (comm/nccl.cpp: NCCL binds a communicator to it).
clsa_status use_device(int32_t index);

clsa_status device_alloc(int32_t index, size_t bytes, void** ptr);
clsa_status device_free(int32_t index, void* ptr);
clsa_status device_copy(int32_t index, void* dst, const void* src, size_t bytes, clsa_copy_kind kind, void* stream);
clsa_status device_fill(int32_t index, float* ptr, int64_t count, float value, void* stream);
clsa_status synchronize(int32_t index, void* stream);

clsa_status scan_rows(int32_t index, const float* data, int64_t rows, int64_t cols, int64_t* first_nonfinite,
                      int64_t* first_zero_row);

size_t head_workspace_size(const clsa_head_desc& d);
clsa_status head_fused(const clsa_head_desc& d, const clsa_head_tensors& t, void* workspace, size_t bytes);

clsa_status momentum_update(int32_t index, float* target, const float* source, int64_t count, float m, void* stream);
clsa_status queue_enqueue(int32_t index, float* queue, int64_t k, int64_t d, const float* keys, int64_t n,
                          bool normalize, int64_t pointer, void* stream);

}  // namespace clsa::cuda
