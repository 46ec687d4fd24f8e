// The C API: checks its own invariants (returning status codes, never aborting) and
// dispatches to the CPU or CUDA back end. Policy and friendly validation live in TypeScript;
// these checks are the last line for native consumers.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include "clsa/clsa.h"
#include "cpu/head.h"
#include "cpu/kernels.h"
#include "cpu/nn/gemm.h"
#include "cpu/threadpool.h"
#include "internal.h"
#ifdef CLSA_WITH_CUDA
#include "cuda/cuda_api.h"
#endif

using namespace clsa;

namespace {

[[maybe_unused]] clsa_status not_compiled(const char* what) {
  return fail(CLSA_ERR_NOT_COMPILED, "%s: this build of libclsa has no CUDA back end (compiled without nvcc)", what);
}

clsa_status check_device_field(int32_t device, int32_t index, const char* what) {
  if (device == CLSA_DEVICE_CPU) return CLSA_OK;
  if (device != CLSA_DEVICE_CUDA)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: device must be CLSA_DEVICE_CPU (0) or CLSA_DEVICE_CUDA (1) but got %d",
                what, device);
#ifdef CLSA_WITH_CUDA
  return cuda::check_device(index);
#else
  (void)index;
  return not_compiled(what);
#endif
}

clsa_status check_dim(const char* name, int64_t v, int64_t lo) {
  if (v < lo || v > kMaxDim)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected an integer in [%lld, %lld] but got %lld", name, (long long)lo,
                (long long)kMaxDim, (long long)v);
  return CLSA_OK;
}

clsa_status check_elems(const char* name, int64_t a, int64_t b, int64_t c = 1) {
  // a*b*c without overflow: each factor <= 2^31, so checking stepwise against 2^62 suffices.
  __int128 n = (__int128)a * b * c;
  if (n > kMaxElements)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: %lld x %lld x %lld elements exceed the limit of 2^62", name, (long long)a,
                (long long)b, (long long)c);
  return CLSA_OK;
}

clsa_status check_head(const clsa_head_desc* d) {
  if (!d) return fail(CLSA_ERR_INVALID_ARGUMENT, "desc: expected a descriptor but got NULL");
  CLSA_TRY(check_dim("desc->n", d->n, 1));
  CLSA_TRY(check_dim("desc->d", d->d, 1));
  CLSA_TRY(check_dim("desc->k", d->k, 1));
  CLSA_TRY(check_dim("desc->w", d->w, 1));
  CLSA_TRY(check_dim("desc->s", d->s, 0));
  CLSA_TRY(check_dim("desc->n + desc->k", d->n + d->k, 1));
  CLSA_TRY(check_elems("weak + strong", d->w + d->s, d->n, d->d));
  CLSA_TRY(check_elems("queue", d->k, d->d));
  if (!(d->temperature > 0) || !std::isfinite(d->temperature))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->temperature: expected a finite number > 0 but got %g", d->temperature);
  if (!(d->ddm_temperature > 0) || !std::isfinite(d->ddm_temperature))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->ddm_temperature: expected a finite number > 0 but got %g",
                d->ddm_temperature);
  if (!(d->ddm_weight >= 0) || !std::isfinite(d->ddm_weight))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->ddm_weight: expected a finite number >= 0 but got %g", d->ddm_weight);
  if (d->normalize != 0 && d->normalize != 1)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->normalize: expected 0 or 1 but got %d", d->normalize);
  if (d->precision < CLSA_PRECISION_FP32 || d->precision > CLSA_PRECISION_FP16)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "desc->precision: expected 0..3 (fp32, tf32, bf16, fp16) but got %d",
                d->precision);
  if (d->device == CLSA_DEVICE_CPU && d->precision != CLSA_PRECISION_FP32)
    return fail(CLSA_ERR_UNSUPPORTED, "desc->precision: the CPU back end computes in fp32 only but got precision %d",
                d->precision);
  return check_device_field(d->device, d->device_index, "desc->device");
}

clsa_status check_tensors(const clsa_head_desc* d, const clsa_head_tensors* t) {
  if (!t) return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors: expected a clsa_head_tensors but got NULL");
  if (!t->weak) return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors->weak: expected [W, N, D] floats but got NULL");
  if (!t->keys) return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors->keys: expected [N, D] floats but got NULL");
  if (!t->queue) return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors->queue: expected [K, D] floats but got NULL");
  if (!t->stats) return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors->stats: expected 4 floats but got NULL");
  if (d->s > 0 && !t->strong)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "tensors->strong: expected [S, N, D] floats with S = %lld but got NULL",
                (long long)d->s);
  return CLSA_OK;
}

}  // namespace

extern "C" {

clsa_status clsa_backend_query(clsa_backend_info* info) {
  clear_error();
  if (!info) return fail(CLSA_ERR_INVALID_ARGUMENT, "info: expected a clsa_backend_info but got NULL");
  std::memset(info, 0, sizeof *info);
  info->cpu_threads = cpu::pool_threads();
  std::snprintf(info->cpu_features, sizeof info->cpu_features, "%s", cpu::cpu_features());
  info->cpu_bf16 = cpu::nn::gemm_bf16_supported() ? 1 : 0;
#ifdef CLSA_WITH_CUDA
  info->cuda_compiled = 1;
  cuda::backend_query(info);
#else
  info->cuda_compiled = 0;
  info->cuda_state = CLSA_CUDA_NOT_COMPILED;
  std::snprintf(info->cuda_message, sizeof info->cuda_message, "compiled without CUDA (nvcc was not found at build time)");
#endif
  return CLSA_OK;
}

clsa_status clsa_cpu_set_threads(int32_t threads) {
  clear_error();
  if (threads < 0 || threads > 4096)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "threads: expected 0 (all cores) .. 4096 but got %d", threads);
  cpu::set_pool_threads(threads);
  return CLSA_OK;
}

clsa_status clsa_device_alloc(int32_t device_index, size_t bytes, void** ptr) {
  clear_error();
  if (!ptr) return fail(CLSA_ERR_INVALID_ARGUMENT, "ptr: expected a pointer to receive the allocation but got NULL");
  *ptr = nullptr;
#ifdef CLSA_WITH_CUDA
  CLSA_TRY(cuda::check_device(device_index));
  return cuda::device_alloc(device_index, bytes, ptr);
#else
  (void)device_index; (void)bytes;
  return not_compiled("clsa_device_alloc");
#endif
}

clsa_status clsa_device_free(int32_t device_index, void* ptr) {
  clear_error();
#ifdef CLSA_WITH_CUDA
  if (!ptr) return CLSA_OK;
  return cuda::device_free(device_index, ptr);
#else
  (void)device_index;
  return ptr ? not_compiled("clsa_device_free") : CLSA_OK;
#endif
}

clsa_status clsa_device_copy(int32_t device_index, void* dst, const void* src, size_t bytes, clsa_copy_kind kind,
                             void* stream) {
  clear_error();
  if (bytes == 0) return CLSA_OK;
  if (!dst || !src) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected a pointer but got NULL", dst ? "src" : "dst");
  if (kind < CLSA_COPY_HOST_TO_DEVICE || kind > CLSA_COPY_DEVICE_TO_DEVICE)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "kind: expected 1..3 but got %d", int(kind));
#ifdef CLSA_WITH_CUDA
  CLSA_TRY(cuda::check_device(device_index));
  return cuda::device_copy(device_index, dst, src, bytes, kind, stream);
#else
  (void)device_index; (void)stream;
  return not_compiled("clsa_device_copy");
#endif
}

clsa_status clsa_device_fill(int32_t device_index, float* ptr, int64_t count, float value, void* stream) {
  clear_error();
  if (count == 0) return CLSA_OK;
  if (!ptr || count < 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "ptr/count: expected a pointer and count >= 0 but got %p, %lld", (void*)ptr,
                (long long)count);
#ifdef CLSA_WITH_CUDA
  CLSA_TRY(cuda::check_device(device_index));
  return cuda::device_fill(device_index, ptr, count, value, stream);
#else
  (void)device_index; (void)value; (void)stream;
  return not_compiled("clsa_device_fill");
#endif
}

clsa_status clsa_cuda_synchronize(int32_t device_index, void* stream) {
  clear_error();
#ifdef CLSA_WITH_CUDA
  CLSA_TRY(cuda::check_device(device_index));
  return cuda::synchronize(device_index, stream);
#else
  (void)device_index; (void)stream;
  return not_compiled("clsa_cuda_synchronize");
#endif
}

clsa_status clsa_scan_rows(int32_t device, int32_t device_index, const float* data, int64_t rows, int64_t cols,
                           int64_t* first_nonfinite, int64_t* first_zero_row) {
  clear_error();
  CLSA_TRY(check_dim("rows", rows, 0));
  CLSA_TRY(check_dim("cols", cols, 1));
  CLSA_TRY(check_elems("data", rows, cols));
  if (!first_nonfinite || !first_zero_row)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "first_nonfinite/first_zero_row: expected pointers but got NULL");
  *first_nonfinite = -1;
  *first_zero_row = -1;
  if (rows == 0) return CLSA_OK;
  if (!data) return fail(CLSA_ERR_INVALID_ARGUMENT, "data: expected %lld floats but got NULL", (long long)(rows * cols));
  CLSA_TRY(check_device_field(device, device_index, "device"));
#ifdef CLSA_WITH_CUDA
  if (device == CLSA_DEVICE_CUDA)
    return cuda::scan_rows(device_index, data, rows, cols, first_nonfinite, first_zero_row);
#endif
  cpu::scan_rows(data, rows, cols, first_nonfinite, first_zero_row);
  return CLSA_OK;
}

clsa_status clsa_head_workspace_size(const clsa_head_desc* desc, size_t* bytes) {
  clear_error();
  if (!bytes) return fail(CLSA_ERR_INVALID_ARGUMENT, "bytes: expected a pointer but got NULL");
  CLSA_TRY(check_head(desc));
#ifdef CLSA_WITH_CUDA
  if (desc->device == CLSA_DEVICE_CUDA) {
    *bytes = cuda::head_workspace_size(*desc);
    return CLSA_OK;
  }
#endif
  *bytes = cpu::head_workspace_size(*desc);
  return CLSA_OK;
}

clsa_status clsa_head_forward_backward(const clsa_head_desc* desc, const clsa_head_tensors* t, void* workspace,
                                       size_t workspace_bytes) {
  clear_error();
  CLSA_TRY(check_head(desc));
  CLSA_TRY(check_tensors(desc, t));
  try {
#ifdef CLSA_WITH_CUDA
    if (desc->device == CLSA_DEVICE_CUDA) return cuda::head_fused(*desc, *t, workspace, workspace_bytes);
#endif
    return cpu::head_fused(*desc, *t, workspace, workspace_bytes);
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "fused head: out of host memory");
  } catch (...) {
    return fail(CLSA_ERR_INTERNAL, "fused head: unexpected C++ exception");
  }
}

clsa_status clsa_head_reference(const clsa_head_desc* desc, const clsa_head_tensors* t) {
  clear_error();
  CLSA_TRY(check_head(desc));
  CLSA_TRY(check_tensors(desc, t));
  if (desc->device != CLSA_DEVICE_CPU)
    return fail(CLSA_ERR_UNSUPPORTED, "desc->device: the reference runs on the CPU only but got device %d", desc->device);
  try {
    return cpu::head_reference(*desc, *t);
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "reference head: out of host memory (it materialises M x (N+K) logits)");
  }
}

clsa_status clsa_momentum_update(int32_t device, int32_t device_index, float* target, const float* source,
                                 int64_t count, float m, void* stream) {
  clear_error();
  if (count < 0 || count > kMaxElements)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "count: expected 0 .. 2^62 but got %lld", (long long)count);
  if (count > 0 && (!target || !source))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected %lld floats but got NULL", target ? "source" : "target",
                (long long)count);
  if (!(m >= 0.0f && m <= 1.0f)) return fail(CLSA_ERR_INVALID_ARGUMENT, "m: expected a number in [0, 1] but got %g", m);
  if (count == 0) return CLSA_OK;
  CLSA_TRY(check_device_field(device, device_index, "device"));
#ifdef CLSA_WITH_CUDA
  if (device == CLSA_DEVICE_CUDA) return cuda::momentum_update(device_index, target, source, count, m, stream);
#endif
  (void)stream;
  cpu::momentum_update(target, source, count, m);
  return CLSA_OK;
}

clsa_status clsa_queue_enqueue(int32_t device, int32_t device_index, float* queue, int64_t k, int64_t d,
                               const float* keys, int64_t n, int32_t normalize, int64_t* pointer, void* stream) {
  clear_error();
  CLSA_TRY(check_dim("k", k, 1));
  CLSA_TRY(check_dim("d", d, 1));
  CLSA_TRY(check_dim("n", n, 0));
  CLSA_TRY(check_elems("queue", k, d));
  CLSA_TRY(check_elems("keys", n, d));
  if (!queue || (n > 0 && !keys) || !pointer)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected a pointer but got NULL", !queue ? "queue" : !pointer ? "pointer" : "keys");
  if (*pointer < 0 || *pointer >= k)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "pointer: expected 0 <= *pointer < k = %lld but got %lld", (long long)k,
                (long long)*pointer);
  if (normalize != 0 && normalize != 1)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "normalize: expected 0 or 1 but got %d", normalize);
  if (n == 0) return CLSA_OK;
  CLSA_TRY(check_device_field(device, device_index, "device"));
#ifdef CLSA_WITH_CUDA
  if (device == CLSA_DEVICE_CUDA) {
    CLSA_TRY(cuda::queue_enqueue(device_index, queue, k, d, keys, n, normalize != 0, *pointer, stream));
    *pointer = (*pointer + n) % k;
    return CLSA_OK;
  }
#endif
  (void)stream;
  return cpu::queue_enqueue(queue, k, d, keys, n, normalize != 0, pointer);
}

}  // extern "C"
