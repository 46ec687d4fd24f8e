// CUDA twin of the kNN fused similarity + running top-k (see cpu/knn.cpp and clsa/eval.h).
//
// One block owns kRows test rows and sweeps the train set in tiles of kTile rows. Each warp takes
// train rows of the tile (lanes stride along d, so reads are coalesced), computes the dot products
// with the block's test rows and reduces them with shuffles into shared memory. Warp r then merges
// row r's tile of similarities into that row's top-k min-heap: a ballot finds the lanes whose
// candidate beats the current worst, and lane 0 inserts them in ascending train order (so the
// tie rule — smaller train index wins — matches the CPU). The heaps live in the output arrays;
// at the end lane 0 heap-sorts its row best-first. Norms are precomputed by a small kernel.
#include <cuda_runtime.h>

#include "common.cuh"
#include "knn.h"

namespace clsa::cuda {
namespace {

constexpr int kRows = 8;     // test rows per block (= warps per block)
constexpr int kTile = 256;   // train rows per tile
constexpr int kThreads = kRows * 32;

__global__ void inverse_norms(const float* __restrict__ x, int64_t rows, int64_t d, float* __restrict__ inv) {
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* p = x + r * d;
  float s = 0.0f;
  for (int64_t c = lane; c < d; c += 32) s = fmaf(p[c], p[c], s);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) inv[r] = s > 0.0f ? rsqrtf(s) : 0.0f;
}

__device__ __forceinline__ bool worse(float sa, int32_t ia, float sb, int32_t ib) {
  return sa < sb || (sa == sb && ia > ib);
}

__device__ void sift_down(float* sim, int32_t* idx, int64_t size, int64_t i) {
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < size && worse(sim[l], idx[l], sim[m], idx[m])) m = l;
    if (r < size && worse(sim[r], idx[r], sim[m], idx[m])) m = r;
    if (m == i) return;
    float ts = sim[i]; sim[i] = sim[m]; sim[m] = ts;
    int32_t ti = idx[i]; idx[i] = idx[m]; idx[m] = ti;
    i = m;
  }
}

__device__ void heap_offer(float* sim, int32_t* idx, int64_t& size, int64_t cap, float s, int32_t j) {
  if (size < cap) {
    int64_t i = size++;
    sim[i] = s;
    idx[i] = j;
    while (i > 0) {
      int64_t p = (i - 1) / 2;
      if (!worse(sim[i], idx[i], sim[p], idx[p])) break;
      float ts = sim[i]; sim[i] = sim[p]; sim[p] = ts;
      int32_t ti = idx[i]; idx[i] = idx[p]; idx[p] = ti;
      i = p;
    }
  } else if (worse(sim[0], idx[0], s, j)) {
    sim[0] = s;
    idx[0] = j;
    sift_down(sim, idx, size, 0);
  }
}

__global__ void __launch_bounds__(kThreads) knn_kernel(const float* __restrict__ train, const float* __restrict__ test,
                                                       const float* __restrict__ inv_train,
                                                       const float* __restrict__ inv_test, int64_t nt, int64_t nq,
                                                       int64_t d, int64_t k, int32_t* __restrict__ out_index,
                                                       float* __restrict__ out_sim) {
  __shared__ float sims[kRows][kTile];
  __shared__ int64_t heap_size[kRows];
  __shared__ float worst[kRows];  // current root similarity (valid when the heap is full)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t r0 = int64_t(blockIdx.x) * kRows;
  const int rows = int(nq - r0 < kRows ? nq - r0 : int64_t(kRows));
  if (threadIdx.x < kRows) heap_size[threadIdx.x] = 0;
  __syncthreads();
  for (int64_t t0 = 0; t0 < nt; t0 += kTile) {
    const int cols = int(nt - t0 < kTile ? nt - t0 : int64_t(kTile));
    // Similarities of the block's test rows with this tile.
    for (int j = warp; j < cols; j += kRows) {
      const float* b = train + (t0 + j) * d;
      float acc[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
      for (int64_t c = lane; c < d; c += 32) {
        const float bv = __ldg(b + c);
#pragma unroll
        for (int r = 0; r < kRows; ++r)
          if (r < rows) acc[r] = fmaf(__ldg(test + (r0 + r) * d + c), bv, acc[r]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float s = acc[r];
        for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0 && r < rows) sims[r][j] = s * inv_train[t0 + j] * inv_test[r0 + r];
      }
    }
    __syncthreads();
    // Warp `warp` merges row `warp`.
    if (warp < rows) {
      float* hs = out_sim + (r0 + warp) * k;
      int32_t* hi = out_index + (r0 + warp) * k;
      for (int base = 0; base < cols; base += 32) {
        const int j = base + lane;
        const float s = j < cols ? sims[warp][j] : -INFINITY;
        const int64_t size = heap_size[warp];
        // A candidate can only enter when the heap is not full or it beats the current worst
        // (an equal similarity loses: its index is larger than every kept one).
        const bool maybe = j < cols && (size < k || s > worst[warp]);
        unsigned mask = __ballot_sync(0xffffffffu, maybe);
        if (lane == 0) {
          int64_t sz = size;
          while (mask) {
            const int l = __ffs(mask) - 1;
            mask &= mask - 1;
            heap_offer(hs, hi, sz, k, sims[warp][base + l], int32_t(t0 + base + l));
          }
          heap_size[warp] = sz;
          if (sz == k) worst[warp] = hs[0];
        }
        __syncwarp();
      }
    }
    __syncthreads();
  }
  if (warp < rows && lane == 0) {
    float* hs = out_sim + (r0 + warp) * k;
    int32_t* hi = out_index + (r0 + warp) * k;
    for (int64_t n = k; n > 1; --n) {
      float ts = hs[0]; hs[0] = hs[n - 1]; hs[n - 1] = ts;
      int32_t ti = hi[0]; hi[0] = hi[n - 1]; hi[n - 1] = ti;
      sift_down(hs, hi, n - 1, 0);
    }
  }
}

}  // namespace

clsa_status knn_topk(const clsa_knn_desc& desc, const float* train, const float* test, int32_t* out_index,
                     float* out_sim) {
  if (desc.cancel && __atomic_load_n(desc.cancel, __ATOMIC_RELAXED) != 0)
    return fail(CLSA_ERR_CANCELLED, "knn: cancelled");
  CLSA_TRY(use_device(desc.device_index));
  cudaStream_t stream = static_cast<cudaStream_t>(desc.stream);
  float* inv = nullptr;
  CLSA_CUDA_TRY(cudaMallocAsync(reinterpret_cast<void**>(&inv), size_t(desc.n_train + desc.n_test) * sizeof(float),
                                stream),
                "knn: cudaMallocAsync of the norms");
  const int per = 256 / 32;
  inverse_norms<<<unsigned((desc.n_train + per - 1) / per), 256, 0, stream>>>(train, desc.n_train, desc.d, inv);
  inverse_norms<<<unsigned((desc.n_test + per - 1) / per), 256, 0, stream>>>(test, desc.n_test, desc.d,
                                                                              inv + desc.n_train);
  knn_kernel<<<unsigned((desc.n_test + kRows - 1) / kRows), kThreads, 0, stream>>>(
      train, test, inv, inv + desc.n_train, desc.n_train, desc.n_test, desc.d, desc.k, out_index, out_sim);
  cudaError_t launch = cudaGetLastError();
  cudaError_t freed = cudaFreeAsync(inv, stream);
  if (launch != cudaSuccess) return cuda_fail(launch, "knn: kernel launch");
  CLSA_CUDA_TRY(freed, "knn: cudaFreeAsync of the norms");
  CLSA_CUDA_TRY(cudaStreamSynchronize(stream), "knn: kernel");
  return CLSA_OK;
}

}  // namespace clsa::cuda
