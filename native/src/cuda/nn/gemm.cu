// Run-time facts the GEMM core's callers need (gemm.cuh).
#include <atomic>

#include "gemm.cuh"

#include "clsa/clsa.h"

namespace clsa::cuda::nn {

cudaError_t device_has_tf32_mma(bool* yes) {
  // 0 = not asked yet, 1 = no, 2 = yes; per device index (racing first calls store the same value).
  constexpr int kCached = 64;
  static std::atomic<int> cache[kCached];
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  if (dev >= 0 && dev < kCached) {
    const int v = cache[dev].load(std::memory_order_relaxed);
    if (v != 0) {
      *yes = v == 2;
      return cudaSuccess;
    }
  }
  int major = 0;
  e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  if (e != cudaSuccess) return e;
  *yes = major >= 8;
  if (dev >= 0 && dev < kCached) cache[dev].store(*yes ? 2 : 1, std::memory_order_relaxed);
  return cudaSuccess;
}

bool gemm_use_tc(int32_t precision) {
  if (precision != CLSA_PRECISION_TF32) return false;
  bool yes = false;
  // A failing query falls back to FP32; the same failure then surfaces at the launch.
  return device_has_tf32_mma(&yes) == cudaSuccess && yes;
}

}  // namespace clsa::cuda::nn
