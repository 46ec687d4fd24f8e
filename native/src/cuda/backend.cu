// Device discovery, memory and the small memory-bound kernels (EMA, enqueue, fill).
#include <cstdio>
#include <cstring>

#include "common.cuh"
#include "cuda_api.h"

namespace clsa::cuda {

clsa_status cuda_fail(cudaError_t err, const char* what) {
  cudaGetLastError();  // clear the sticky-free error state so later calls are not poisoned
  if (err == cudaErrorMemoryAllocation) {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return fail(CLSA_ERR_OUT_OF_MEMORY, "%s: %s (%s); %zu bytes free of %zu on the device", what, cudaGetErrorName(err),
                cudaGetErrorString(err), free_b, total_b);
  }
  return fail(CLSA_ERR_CUDA, "%s: %s (%s)", what, cudaGetErrorName(err), cudaGetErrorString(err));
}

namespace {

int32_t classify(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return CLSA_CUDA_USABLE;
    case cudaErrorInsufficientDriver: return CLSA_CUDA_DRIVER_TOO_OLD;
    case cudaErrorNoDevice: return CLSA_CUDA_NO_DEVICE;
    default: break;
  }
  // The static runtime reports a missing libcuda.so as these.
  if (e == cudaErrorStubLibrary || e == cudaErrorInitializationError || e == cudaErrorSystemDriverMismatch)
    return CLSA_CUDA_NO_DRIVER;
  return CLSA_CUDA_ERROR;
}

}  // namespace

void backend_query(clsa_backend_info* info) {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  info->cuda_runtime_version = rt;
  if (cudaDriverGetVersion(&drv) == cudaSuccess) info->cuda_driver_version = drv;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaSuccess && count == 0) e = cudaErrorNoDevice;
  if (e == cudaSuccess && drv == 0) e = cudaErrorStubLibrary;
  info->cuda_state = classify(e);
  // Without any driver the static runtime says "insufficient driver"; driver version 0 tells
  // the two cases apart.
  if (e != cudaSuccess && drv == 0) info->cuda_state = CLSA_CUDA_NO_DRIVER;
  if (e != cudaSuccess) {
    cudaGetLastError();
    const char* why = info->cuda_state == CLSA_CUDA_NO_DRIVER      ? "no NVIDIA driver found"
                      : info->cuda_state == CLSA_CUDA_DRIVER_TOO_OLD ? "the NVIDIA driver is older than this CUDA runtime"
                      : info->cuda_state == CLSA_CUDA_NO_DEVICE      ? "no CUDA device found"
                                                                     : "CUDA runtime error";
    std::snprintf(info->cuda_message, sizeof info->cuda_message, "%s: %s (%s)", why, cudaGetErrorName(e),
                  cudaGetErrorString(e));
    return;
  }
  info->device_count = count < CLSA_MAX_DEVICES ? count : CLSA_MAX_DEVICES;
  for (int i = 0; i < info->device_count; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    clsa_device_info& di = info->devices[i];
    std::snprintf(di.name, sizeof di.name, "%s", p.name);
    di.compute_major = p.major;
    di.compute_minor = p.minor;
    di.multiprocessors = p.multiProcessorCount;
    di.total_memory = int64_t(p.totalGlobalMem);
    size_t fr = 0, tot = 0;
    int prev = 0;
    cudaGetDevice(&prev);
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&fr, &tot) == cudaSuccess) di.free_memory = int64_t(fr);
    cudaSetDevice(prev);
    cudaGetLastError();
  }
}

clsa_status check_device(int32_t index) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(CLSA_ERR_NO_DEVICE, "no usable CUDA device: %s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
  }
  if (count == 0) return fail(CLSA_ERR_NO_DEVICE, "no usable CUDA device: the driver reports 0 devices");
  if (index < 0 || index >= count)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "device_index: expected 0 .. %d but got %d", count - 1, index);
  return CLSA_OK;
}

clsa_status use_device(int32_t index) {
  CLSA_CUDA_TRY(cudaSetDevice(index), "cudaSetDevice");
  return CLSA_OK;
}

clsa_status device_alloc(int32_t index, size_t bytes, void** ptr) {
  CLSA_TRY(use_device(index));
  cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 1);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    *ptr = nullptr;
    return fail(CLSA_ERR_OUT_OF_MEMORY, "cudaMalloc: out of device memory (cudaErrorMemoryAllocation): asked for %zu bytes, %zu free of %zu",
                bytes, fr, tot);
  }
  CLSA_CUDA_TRY(e, "cudaMalloc");
  return CLSA_OK;
}

clsa_status device_free(int32_t index, void* ptr) {
  CLSA_TRY(use_device(index));
  CLSA_CUDA_TRY(cudaFree(ptr), "cudaFree");
  return CLSA_OK;
}

clsa_status device_copy(int32_t index, void* dst, const void* src, size_t bytes, clsa_copy_kind kind, void* stream) {
  CLSA_TRY(use_device(index));
  cudaMemcpyKind k = kind == CLSA_COPY_HOST_TO_DEVICE   ? cudaMemcpyHostToDevice
                     : kind == CLSA_COPY_DEVICE_TO_HOST ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyDeviceToDevice;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  CLSA_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, k, s), "cudaMemcpyAsync");
  CLSA_CUDA_TRY(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  return CLSA_OK;
}

namespace {

__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) p[i] = v;
}

// 16-byte vectors when both pointers allow it; a scalar tail otherwise. Memory-bound
// (12 bytes per parameter): each thread keeps 4 independent float4 loads of each input in
// flight per step (8 x 16 B), and the grid is sized to exactly fill the GPU, so the loop
// streams with enough bytes in flight to cover DRAM latency.
constexpr int kEmaUnroll = 4;
__global__ void ema_kernel(float* __restrict__ t, const float* __restrict__ s, int64_t n, float a, float b) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const bool vec = ((reinterpret_cast<uintptr_t>(t) | reinterpret_cast<uintptr_t>(s)) & 15) == 0;
  if (vec) {
    const int64_t n4 = n / 4;
    float4* t4 = reinterpret_cast<float4*>(t);
    const float4* s4 = reinterpret_cast<const float4*>(s);
    int64_t j = i;
    for (; j + (kEmaUnroll - 1) * stride < n4; j += kEmaUnroll * stride) {
      float4 x[kEmaUnroll], y[kEmaUnroll];
#pragma unroll
      for (int u = 0; u < kEmaUnroll; ++u) {
        x[u] = t4[j + u * stride];
        y[u] = __ldg(s4 + j + u * stride);
      }
#pragma unroll
      for (int u = 0; u < kEmaUnroll; ++u) {
        x[u].x = a * x[u].x + b * y[u].x;
        x[u].y = a * x[u].y + b * y[u].y;
        x[u].z = a * x[u].z + b * y[u].z;
        x[u].w = a * x[u].w + b * y[u].w;
        t4[j + u * stride] = x[u];
      }
    }
    for (; j < n4; j += stride) {
      float4 x = t4[j], y = __ldg(s4 + j);
      x.x = a * x.x + b * y.x;
      x.y = a * x.y + b * y.y;
      x.z = a * x.z + b * y.z;
      x.w = a * x.w + b * y.w;
      t4[j] = x;
    }
    for (int64_t k = n4 * 4 + i; k < n; k += stride) t[k] = a * t[k] + b * s[k];
  } else {
    for (int64_t k = i; k < n; k += stride) t[k] = a * t[k] + b * s[k];
  }
}

// One warp per key row: copy (optionally L2-normalise) into the ring slot.
__global__ void enqueue_kernel(float* __restrict__ q, int64_t k, int64_t d, const float* __restrict__ keys, int64_t n,
                               int64_t skip, int64_t pointer, bool normalize) {
  const int64_t r = skip + blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (r >= n) return;
  const float* src = keys + r * d;
  float* dst = q + ((pointer + r) % k) * d;
  float inv = 1.0f;
  if (normalize) {
    float ss = 0;
    for (int64_t e = threadIdx.x; e < d; e += 32) ss += src[e] * src[e];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    inv = rsqrtf(ss);
  }
  for (int64_t e = threadIdx.x; e < d; e += 32) dst[e] = src[e] * inv;
}

int grid_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return int(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

}  // namespace

clsa_status device_fill(int32_t index, float* ptr, int64_t count, float value, void* stream) {
  CLSA_TRY(use_device(index));
  fill_kernel<<<grid_for(count, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(ptr, count, value);
  CLSA_CUDA_LAUNCH_CHECK("fill_kernel");
  return CLSA_OK;
}

clsa_status synchronize(int32_t index, void* stream) {
  CLSA_TRY(use_device(index));
  CLSA_CUDA_TRY(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
  return CLSA_OK;
}

clsa_status momentum_update(int32_t index, float* target, const float* source, int64_t count, float m, void* stream) {
  CLSA_TRY(use_device(index));
  int sms = 0, per_sm = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, index);
  const int threads = 512;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, ema_kernel, threads, 0) != cudaSuccess) {
    cudaGetLastError();
    per_sm = 1;
  }
  // One resident wave: every SM full, no tail of late blocks.
  const int64_t wave = int64_t(sms > 0 ? sms : 1) * (per_sm > 0 ? per_sm : 1);
  const int64_t want = (count / 4 + threads - 1) / threads;
  const int blocks = int(want < wave ? (want > 0 ? want : 1) : wave);
  ema_kernel<<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(target, source, count, m, 1.0f - m);
  CLSA_CUDA_LAUNCH_CHECK("ema_kernel");
  return CLSA_OK;
}

clsa_status queue_enqueue(int32_t index, float* queue, int64_t k, int64_t d, const float* keys, int64_t n,
                          bool normalize, int64_t pointer, void* stream) {
  CLSA_TRY(use_device(index));
  const int64_t skip = n > k ? n - k : 0;
  const int64_t rows = n - skip;
  dim3 block(32, 8);
  enqueue_kernel<<<unsigned((rows + 7) / 8), block, 0, static_cast<cudaStream_t>(stream)>>>(queue, k, d, keys, n, skip,
                                                                                           pointer, normalize);
  CLSA_CUDA_LAUNCH_CHECK("enqueue_kernel");
  return CLSA_OK;
}

}  // namespace clsa::cuda

namespace clsa::cuda {
namespace {

// One warp per row: a row with a non-finite element records its first flat index, an
// all-zero row its row index; atomicMin keeps the first of each.
__global__ void scan_kernel(const float* __restrict__ p, int64_t rows, int64_t cols,
                            unsigned long long* bad, unsigned long long* zero) {
  const int64_t r = blockIdx.x * int64_t(blockDim.y) + threadIdx.y;
  if (r >= rows) return;
  const float* row = p + r * cols;
  unsigned long long first = ~0ull;
  float nz = 0.0f;
  for (int64_t e = threadIdx.x; e < cols; e += 32) {
    float v = row[e];
    if (!isfinite(v) && first == ~0ull) first = (unsigned long long)(r * cols + e);
    nz += fabsf(v);
  }
  for (int o = 16; o > 0; o >>= 1) {
    nz += __shfl_xor_sync(0xffffffffu, nz, o);
    unsigned long long f2 = __shfl_xor_sync(0xffffffffu, first, o);
    first = f2 < first ? f2 : first;
  }
  if (threadIdx.x == 0) {
    if (first != ~0ull) atomicMin(bad, first);
    if (nz == 0.0f) atomicMin(zero, (unsigned long long)r);
  }
}

}  // namespace

clsa_status scan_rows(int32_t index, const float* data, int64_t rows, int64_t cols, int64_t* first_nonfinite,
                      int64_t* first_zero_row) {
  CLSA_TRY(use_device(index));
  unsigned long long* d = nullptr;
  CLSA_CUDA_TRY(cudaMalloc(&d, 2 * sizeof(unsigned long long)), "cudaMalloc");
  cudaMemset(d, 0xff, 2 * sizeof(unsigned long long));
  dim3 block(32, 8);
  scan_kernel<<<unsigned((rows + 7) / 8), block>>>(data, rows, cols, d, d + 1);
  unsigned long long h[2] = {0, 0};
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
  cudaFree(d);
  CLSA_CUDA_TRY(e, "scan_kernel");
  *first_nonfinite = h[0] == ~0ull ? -1 : int64_t(h[0]);
  *first_zero_row = h[1] == ~0ull ? -1 : int64_t(h[1]);
  return CLSA_OK;
}

}  // namespace clsa::cuda
