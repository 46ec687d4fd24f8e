// CUDA executor of the augmentation pipelines: all (view, image) pairs of a batch in one launch,
// one thread block per pair (grid-stride over pairs), threads spread over the pixels of each
// step. The per-pixel code is the CPU executor's (augment/pipeline.h); whole-image statistics
// (contrast mean, autocontrast / equalize histograms) are reduced in shared memory per image.
// A pair's working images live in shared memory when they fit, else in a global scratch slab
// (one slot per resident block).
#include <algorithm>
#include <vector>

#include "augment/draw.h"
#include "augment/executors.h"
#include "common.cuh"
#include "cuda_api.h"

namespace clsa::aug {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kSharedLimit = 48 * 1024;  // no opt-in needed below this

struct CudaCtx {
  static constexpr bool kSequential = false;
  int32_t* red;  // one shared int for block sums
  template <class F>
  __device__ __forceinline__ void each(int n, F f) const {
    for (int i = threadIdx.x; i < n; i += blockDim.x) f(i);
  }
  template <class F>
  __device__ __forceinline__ void each2d(int rows, int cols, F f) const {
    for (int i = threadIdx.x; i < rows * cols; i += blockDim.x) f(i / cols, i % cols);
  }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
  __device__ __forceinline__ int32_t sum(int32_t v) const {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) *red = 0;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) atomicAdd(red, v);
    __syncthreads();
    const int32_t total = *red;
    __syncthreads();
    return total;
  }
  __device__ __forceinline__ void atomic_add(int32_t* p, int32_t v) const { atomicAdd(p, v); }
};

struct Launch {
  const uint8_t* images;
  int64_t n;
  int32_t height, width, channels, views;
  const clsa_augment_view* view;   // device [views]
  const ViewConst* vc;             // device [views]
  const clsa_augment_params* params;  // device [views * n]
  uint8_t* scratch;                // global slab, or null to use shared memory
  int64_t scratch_bytes;           // bytes per block
};

__global__ void __launch_bounds__(kThreads, 4) augment_kernel(Launch L) {
  extern __shared__ __align__(16) uint8_t smem[];
  __shared__ int32_t red;
  CudaCtx ctx{&red};
  uint8_t* base = L.scratch ? L.scratch + int64_t(blockIdx.x) * L.scratch_bytes : smem;
  const int64_t pairs = L.n * L.views;
  const int64_t image_bytes = int64_t(L.height) * L.width * L.channels;
  for (int64_t pair = blockIdx.x; pair < pairs; pair += gridDim.x) {
    const int v = int(pair / L.n);
    const int64_t i = pair % L.n;
    const ViewConst& vc = L.vc[v];
    const int64_t img = int64_t(vc.size) * vc.size * L.channels;
    const Scratch sc = scratch_at(base, scratch_layout(vc.size, L.height, L.width, L.channels));
    run_view(ctx, L.view[v], vc, L.params[pair], L.images + i * image_bytes, L.height, L.width, L.channels, sc,
             vc.out + i * img);
    __syncthreads();  // the next pair reuses the scratch
  }
}

}  // namespace

clsa_status apply_cuda(const clsa_augment_batch& b, const ViewConst* vcs) {
  CLSA_TRY(cuda::use_device(b.device_index));
  cudaStream_t stream = static_cast<cudaStream_t>(b.stream);
  const int64_t n = b.n, V = b.view_count, pairs = n * V;
  int64_t scratch = 0;
  for (int v = 0; v < V; ++v) scratch = std::max(scratch, scratch_layout(vcs[v].size, b.height, b.width, b.channels).total);
  scratch = align16(scratch);

  int sms = 0;
  CLSA_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, b.device_index), "cudaDeviceGetAttribute");
  const bool shared = scratch <= kSharedLimit;
  // Up to 4 blocks per SM fit (launch bounds). With shared scratch, queue a few waves so the
  // tail balances; with global scratch, one slot per resident block keeps the slab small
  // (224-pixel views need ~450 KB each).
  const int64_t resident = int64_t(sms) * 4;
  const int grid = int(std::max<int64_t>(1, std::min<int64_t>(pairs, shared ? resident * 4 : resident)));

  // One device allocation for the tables, the parameters, the images (when on the host) and the
  // global scratch; stream-ordered, freed right after the launch.
  const int64_t off_view = 0;
  const int64_t off_vc = align16(off_view + int64_t(sizeof(clsa_augment_view)) * V);
  const int64_t off_params = align16(off_vc + int64_t(sizeof(ViewConst)) * V);
  const int64_t off_images = align16(off_params + int64_t(sizeof(clsa_augment_params)) * pairs);
  const int64_t image_bytes = b.images_on_host ? n * b.height * b.width * b.channels : 0;
  const int64_t off_scratch = align16(off_images + image_bytes);
  const int64_t total = off_scratch + (shared ? 0 : scratch * grid);
  uint8_t* dev = nullptr;
  CLSA_CUDA_TRY(cudaMallocAsync(reinterpret_cast<void**>(&dev), size_t(total), stream), "cudaMallocAsync (augment)");
  auto upload = [&](int64_t off, const void* src, int64_t bytes) {
    return cudaMemcpyAsync(dev + off, src, size_t(bytes), cudaMemcpyHostToDevice, stream);
  };
  cudaError_t e = upload(off_view, b.views, int64_t(sizeof(clsa_augment_view)) * V);
  if (e == cudaSuccess) e = upload(off_vc, vcs, int64_t(sizeof(ViewConst)) * V);
  if (e == cudaSuccess) e = upload(off_params, b.params, int64_t(sizeof(clsa_augment_params)) * pairs);
  if (e == cudaSuccess && image_bytes) e = upload(off_images, b.images, image_bytes);
  if (e != cudaSuccess) {
    cudaFreeAsync(dev, stream);
    return cuda::cuda_fail(e, "cudaMemcpyAsync (augment parameters)");
  }
  Launch L;
  L.images = b.images_on_host ? dev + off_images : b.images;
  L.n = n;
  L.height = b.height;
  L.width = b.width;
  L.channels = b.channels;
  L.views = int32_t(V);
  L.view = reinterpret_cast<const clsa_augment_view*>(dev + off_view);
  L.vc = reinterpret_cast<const ViewConst*>(dev + off_vc);
  L.params = reinterpret_cast<const clsa_augment_params*>(dev + off_params);
  L.scratch = shared ? nullptr : dev + off_scratch;
  L.scratch_bytes = scratch;
  augment_kernel<<<grid, kThreads, shared ? size_t(scratch) : 0, stream>>>(L);
  e = cudaGetLastError();
  cudaFreeAsync(dev, stream);
  if (e != cudaSuccess) return cuda::cuda_fail(e, "augment_kernel launch");
  return CLSA_OK;
}

}  // namespace clsa::aug
