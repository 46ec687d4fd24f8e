// CUDA twin of the CPU optimiser step (model/step.cpp's sgd), torch.optim.SGD with momentum and
// weight decay:  d = g + wd p;  buf = mu buf + d;  p -= lr buf.
// Written with _rn intrinsics so nvcc cannot contract the multiply-adds into FMAs: the CPU build
// (baseline x86-64, no FMA) rounds every product and sum, and so does this, bit for bit.
#include "../common.cuh"
#include "launch.cuh"
#include "nn.h"

namespace clsa::cuda::nn {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void sgd1(float& p, float g, float& buf, float lr, float mu, float wd) {
  const float d = __fadd_rn(g, __fmul_rn(wd, p));
  buf = __fadd_rn(__fmul_rn(mu, buf), d);
  p = __fsub_rn(p, __fmul_rn(lr, buf));
}

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf, int64_t count,
                           float lr, float mu, float wd, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    float4* p4 = reinterpret_cast<float4*>(p);
    const float4* g4 = reinterpret_cast<const float4*>(g);
    float4* b4 = reinterpret_cast<float4*>(buf);
    for (int64_t i = tid; i < count / 4; i += stride) {
      float4 pv = p4[i], bv = b4[i];
      const float4 gv = g4[i];
      sgd1(pv.x, gv.x, bv.x, lr, mu, wd);
      sgd1(pv.y, gv.y, bv.y, lr, mu, wd);
      sgd1(pv.z, gv.z, bv.z, lr, mu, wd);
      sgd1(pv.w, gv.w, bv.w, lr, mu, wd);
      p4[i] = pv;
      b4[i] = bv;
    }
    done = count / 4 * 4;
  }
  for (int64_t i = done + tid; i < count; i += stride) sgd1(p[i], g[i], buf[i], lr, mu, wd);
}

}  // namespace

clsa_status sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd, void* stream) {
  if (count < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "sgd: negative count");
  if (count == 0) return CLSA_OK;
  if (!p || !g || !buf) return fail(CLSA_ERR_INVALID_ARGUMENT, "sgd: null pointer");
  const bool vec = aligned16(p) && aligned16(g) && aligned16(buf);
  sgd_kernel<<<grid_for(vec ? count / 4 + 1 : count, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      p, g, buf, count, lr, mu, wd, vec);
  CLSA_CUDA_LAUNCH_CHECK("sgd");
  return CLSA_OK;
}

}  // namespace clsa::cuda::nn
