// CUDA twins of cpu/nn/bn.cpp (split batch norm over CNHW activations).
//
// Training forward and backward: one block of kThreads per channel, looping over its groups in
// order, exactly the CPU's structure; each group's sums are per-thread double partials combined
// by a fixed shuffle tree and a fixed cross-warp tree (deterministic, no atomics). The running
// statistics and dgamma/dbeta need all groups of a channel, which is why a block owns a channel.
// The float arithmetic of the normalisation is written with _rn intrinsics so that nvcc cannot
// contract it into FMAs: with the same mean/invstd the outputs are then the CPU's bit for bit
// (the double sums themselves differ from the CPU's sequential ones only in the last bits).
//
// Vector path (float4) when n/groups*hw % 4 == 0 and every pointer is 16-byte aligned (then every
// group slice is aligned too); else scalar. dx may alias dy: every element of dy is read, and dx
// written, by the same thread, and the first pass over a group only reads.
#include <cmath>

#include "../common.cuh"
#include "launch.cuh"
#include "nn.h"

namespace clsa::cuda::nn {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block, returned to every thread. sh: kWarps + 1 doubles of shared memory. Two
// barriers suffice for back-to-back calls: the next call writes sh[0 .. kWarps) only after every
// thread has passed this call's second barrier, by which point warp 0 has finished reading them,
// and it writes sh[kWarps] only after its own first barrier, which every thread reaches after
// reading this call's result.
__device__ double block_sum(double v, double* sh) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double t = lane < kWarps ? sh[lane] : 0.0;
    t = warp_sum(t);
    if (lane == 0) sh[kWarps] = t;
  }
  __syncthreads();
  return sh[kWarps];
}

__device__ __forceinline__ float bn_affine(float x, float a, float b, bool relu) {
  const float v = __fadd_rn(__fmul_rn(x, a), b);
  return relu ? (v < 0.0f ? 0.0f : v) : v;  // std::max(v, 0.0f): NaN stays NaN, -0 stays -0
}

template <bool VEC, bool RELU>
__global__ void __launch_bounds__(kThreads) bn_train_kernel(const BnShape s, const float* __restrict__ x,
                                                            const float* __restrict__ gamma,
                                                            const float* __restrict__ beta, float* __restrict__ y,
                                                            float* __restrict__ mean, float* __restrict__ invstd,
                                                            float* __restrict__ running_mean,
                                                            float* __restrict__ running_var, float momentum) {
  __shared__ double sh[kWarps + 1];
  const int64_t c = blockIdx.x;
  const int64_t per = s.n / s.groups * s.hw, plane = s.n * s.hw;
  double mean_acc = 0, var_acc = 0;  // used by thread 0
  for (int64_t g = 0; g < s.groups; ++g) {
    const float* xs = x + c * plane + g * per;
    float* ys = y + c * plane + g * per;
    double sum = 0;
    if (VEC) {
      for (int64_t i = threadIdx.x; i < per / 4; i += kThreads) {
        const float4 v = reinterpret_cast<const float4*>(xs)[i];
        sum += double(v.x);
        sum += double(v.y);
        sum += double(v.z);
        sum += double(v.w);
      }
    } else {
      for (int64_t i = threadIdx.x; i < per; i += kThreads) sum += double(xs[i]);
    }
    sum = block_sum(sum, sh);
    const double mu = __ddiv_rn(sum, double(per));
    double ss = 0;
    if (VEC) {
      for (int64_t i = threadIdx.x; i < per / 4; i += kThreads) {
        const float4 v = reinterpret_cast<const float4*>(xs)[i];
        const double d0 = double(v.x) - mu, d1 = double(v.y) - mu, d2 = double(v.z) - mu, d3 = double(v.w) - mu;
        ss += d0 * d0;
        ss += d1 * d1;
        ss += d2 * d2;
        ss += d3 * d3;
      }
    } else {
      for (int64_t i = threadIdx.x; i < per; i += kThreads) {
        const double d = double(xs[i]) - mu;
        ss += d * d;
      }
    }
    ss = block_sum(ss, sh);
    const double var = __ddiv_rn(ss, double(per));
    const float is = float(__ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(var, double(s.eps)))));
    const float fmu = float(mu);
    if (threadIdx.x == 0) {
      mean[c * s.groups + g] = fmu;
      invstd[c * s.groups + g] = is;
      mean_acc = __dadd_rn(mean_acc, mu);
      var_acc = __dadd_rn(var_acc, per > 1 ? __ddiv_rn(ss, double(per - 1)) : var);
    }
    const float a = __fmul_rn(gamma[c], is), b = __fsub_rn(beta[c], __fmul_rn(fmu, a));
    if (VEC) {
      for (int64_t i = threadIdx.x; i < per / 4; i += kThreads) {
        const float4 v = reinterpret_cast<const float4*>(xs)[i];
        reinterpret_cast<float4*>(ys)[i] =
            make_float4(bn_affine(v.x, a, b, RELU), bn_affine(v.y, a, b, RELU), bn_affine(v.z, a, b, RELU),
                        bn_affine(v.w, a, b, RELU));
      }
    } else {
      for (int64_t i = threadIdx.x; i < per; i += kThreads) ys[i] = bn_affine(xs[i], a, b, RELU);
    }
  }
  if (threadIdx.x == 0 && running_mean) {
    // r = (1 - m) r + m * mean_g(stat_g), in double as the CPU writes it (no FMA contraction).
    const double m = momentum, keep = __dsub_rn(1.0, m), G = double(s.groups);
    running_mean[c] = float(__dadd_rn(__dmul_rn(keep, double(running_mean[c])), __ddiv_rn(__dmul_rn(m, mean_acc), G)));
    running_var[c] = float(__dadd_rn(__dmul_rn(keep, double(running_var[c])), __ddiv_rn(__dmul_rn(m, var_acc), G)));
  }
}

// Eval: a grid-stride loop over the plane of each channel (blockIdx.y strides the channels).
template <bool VEC, bool RELU>
__global__ void bn_eval_kernel(const BnShape s, const float* __restrict__ x, const float* __restrict__ gamma,
                               const float* __restrict__ beta, const float* __restrict__ running_mean,
                               const float* __restrict__ running_var, float* __restrict__ y) {
  const int64_t plane = s.n * s.hw;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = blockIdx.y; c < s.c; c += gridDim.y) {
    const float a = float(__ddiv_rn(double(gamma[c]), __dsqrt_rn(__dadd_rn(double(running_var[c]), double(s.eps)))));
    const float b = __fsub_rn(beta[c], __fmul_rn(running_mean[c], a));
    const float* xs = x + c * plane;
    float* ys = y + c * plane;
    const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (VEC) {
      for (int64_t i = tid; i < plane / 4; i += stride) {
        const float4 v = reinterpret_cast<const float4*>(xs)[i];
        reinterpret_cast<float4*>(ys)[i] =
            make_float4(bn_affine(v.x, a, b, RELU), bn_affine(v.y, a, b, RELU), bn_affine(v.z, a, b, RELU),
                        bn_affine(v.w, a, b, RELU));
      }
    } else {
      for (int64_t i = tid; i < plane; i += stride) ys[i] = bn_affine(xs[i], a, b, RELU);
    }
  }
}

__device__ __forceinline__ float masked(float dy, const float* ro, int64_t i, bool mask) {
  return (mask && !(ro[i] > 0.0f)) ? 0.0f : dy;
}

// dy[4i .. 4i+3], masked by relu_out > 0 when MASK (both passes of the backward read it so).
template <bool MASK>
__device__ __forceinline__ float4 masked4(const float* dy, const float* ro, int64_t i) {
  float4 g = reinterpret_cast<const float4*>(dy)[i];
  if (MASK) {
    const float4 r = reinterpret_cast<const float4*>(ro)[i];
    g.x = r.x > 0.0f ? g.x : 0.0f, g.y = r.y > 0.0f ? g.y : 0.0f;
    g.z = r.z > 0.0f ? g.z : 0.0f, g.w = r.w > 0.0f ? g.w : 0.0f;
  }
  return g;
}

// dy and dx are not __restrict__: they may be the same buffer.
template <bool VEC, bool MASK>
__global__ void __launch_bounds__(kThreads) bn_backward_kernel(const BnShape s, const float* __restrict__ x,
                                                               const float* __restrict__ gamma,
                                                               const float* __restrict__ mean,
                                                               const float* __restrict__ invstd, const float* dy,
                                                               float* dx, float* __restrict__ dgamma,
                                                               float* __restrict__ dbeta,
                                                               const float* __restrict__ relu_out) {
  __shared__ double sh[kWarps + 1];
  const int64_t c = blockIdx.x;
  const int64_t per = s.n / s.groups * s.hw, plane = s.n * s.hw;
  double dg = 0, db = 0;  // used by thread 0
  for (int64_t g = 0; g < s.groups; ++g) {
    const int64_t off = c * plane + g * per;
    const float* xs = x + off;
    const float* dys = dy + off;
    float* dxs = dx + off;
    const float* ro = MASK ? relu_out + off : nullptr;
    const float mu = mean[c * s.groups + g], is = invstd[c * s.groups + g];
    double sdy = 0, sdyx = 0;
    if (VEC) {
      for (int64_t i = threadIdx.x; i < per / 4; i += kThreads) {
        const float4 xv = reinterpret_cast<const float4*>(xs)[i];
        const float4 gv = masked4<MASK>(dys, ro, i);
        const float xg[4] = {xv.x, xv.y, xv.z, xv.w}, gg[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          sdy += double(gg[q]);
          sdyx += double(gg[q]) * double(__fmul_rn(__fsub_rn(xg[q], mu), is));
        }
      }
    } else {
      for (int64_t i = threadIdx.x; i < per; i += kThreads) {
        const float gq = masked(dys[i], ro, i, MASK);
        sdy += double(gq);
        sdyx += double(gq) * double(__fmul_rn(__fsub_rn(xs[i], mu), is));
      }
    }
    sdy = block_sum(sdy, sh);
    sdyx = block_sum(sdyx, sh);
    if (threadIdx.x == 0) {
      dg = __dadd_rn(dg, sdyx);
      db = __dadd_rn(db, sdy);
    }
    // dx = gamma * is * (dy - mean(dy) - xhat * mean(dy * xhat)), the CPU's float operations.
    const float k = __fmul_rn(gamma[c], is);
    const float m1 = float(__ddiv_rn(sdy, double(per))), m2 = float(__ddiv_rn(sdyx, double(per)));
    if (VEC) {
      for (int64_t i = threadIdx.x; i < per / 4; i += kThreads) {
        const float4 xv = reinterpret_cast<const float4*>(xs)[i];
        const float4 gv = masked4<MASK>(dys, ro, i);
        float xg[4] = {xv.x, xv.y, xv.z, xv.w}, gg[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float xh = __fmul_rn(__fsub_rn(xg[q], mu), is);
          gg[q] = __fmul_rn(k, __fsub_rn(__fsub_rn(gg[q], m1), __fmul_rn(xh, m2)));
        }
        reinterpret_cast<float4*>(dxs)[i] = make_float4(gg[0], gg[1], gg[2], gg[3]);
      }
    } else {
      for (int64_t i = threadIdx.x; i < per; i += kThreads) {
        const float gq = masked(dys[i], ro, i, MASK);
        const float xh = __fmul_rn(__fsub_rn(xs[i], mu), is);
        dxs[i] = __fmul_rn(k, __fsub_rn(__fsub_rn(gq, m1), __fmul_rn(xh, m2)));
      }
    }
  }
  if (threadIdx.x == 0) {
    dgamma[c] = __fadd_rn(dgamma[c], float(dg));
    dbeta[c] = __fadd_rn(dbeta[c], float(db));
  }
}

clsa_status check_bn(const BnShape& s, const char* what) {
  if (s.c < 0 || s.n < 1 || s.hw < 1 || s.groups < 1 || s.n % s.groups != 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: bad shape (c %lld n %lld hw %lld groups %lld; groups must divide n)",
                what, (long long)s.c, (long long)s.n, (long long)s.hw, (long long)s.groups);
  if (s.c > kMaxDim || s.n > kMaxDim || s.hw > kMaxDim || s.n * s.hw > kMaxElements / (s.c ? s.c : 1))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: shape too large", what);
  return CLSA_OK;
}

}  // namespace

clsa_status bn_forward_train(const BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* invstd, float* running_mean, float* running_var, float momentum,
                             bool relu, void* stream) {
  CLSA_TRY(check_bn(s, "bn_forward_train"));
  if (s.c == 0) return CLSA_OK;
  if (!x || !gamma || !beta || !y || !mean || !invstd || (running_mean && !running_var))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "bn_forward_train: null pointer");
  if (s.c > INT32_MAX) return fail(CLSA_ERR_INVALID_ARGUMENT, "bn_forward_train: too many channels");
  const int64_t per = s.n / s.groups * s.hw;
  const bool vec = per % 4 == 0 && aligned16(x) && aligned16(y);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const unsigned grid = unsigned(s.c);
  auto* kernel = vec ? (relu ? bn_train_kernel<true, true> : bn_train_kernel<true, false>)
                     : (relu ? bn_train_kernel<false, true> : bn_train_kernel<false, false>);
  kernel<<<grid, kThreads, 0, st>>>(s, x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum);
  CLSA_CUDA_LAUNCH_CHECK("bn_forward_train");
  return CLSA_OK;
}

clsa_status bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, bool relu, void* stream) {
  CLSA_TRY(check_bn(s, "bn_forward_eval"));
  if (s.c == 0) return CLSA_OK;
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "bn_forward_eval: null pointer");
  const int64_t plane = s.n * s.hw;
  const bool vec = plane % 4 == 0 && aligned16(x) && aligned16(y);
  constexpr int kEvalThreads = 256;
  // Enough blocks along the plane for ~16k threads per channel row when the plane is big, and
  // at most 65535 rows of blocks along the channels (the kernel strides over the rest).
  const int64_t items = vec ? plane / 4 : plane;
  const dim3 grid(unsigned(std::max<int64_t>(1, std::min<int64_t>((items + kEvalThreads - 1) / kEvalThreads, 64))),
                  unsigned(std::min<int64_t>(s.c, 65535)));
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  auto* kernel = vec ? (relu ? bn_eval_kernel<true, true> : bn_eval_kernel<true, false>)
                     : (relu ? bn_eval_kernel<false, true> : bn_eval_kernel<false, false>);
  kernel<<<grid, kEvalThreads, 0, st>>>(s, x, gamma, beta, running_mean, running_var, y);
  CLSA_CUDA_LAUNCH_CHECK("bn_forward_eval");
  return CLSA_OK;
}

clsa_status bn_backward(const BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                        const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out, void* stream) {
  CLSA_TRY(check_bn(s, "bn_backward"));
  if (s.c == 0) return CLSA_OK;
  if (!x || !gamma || !mean || !invstd || !dy || !dx || !dgamma || !dbeta)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "bn_backward: null pointer");
  if (s.c > INT32_MAX) return fail(CLSA_ERR_INVALID_ARGUMENT, "bn_backward: too many channels");
  const int64_t per = s.n / s.groups * s.hw;
  const bool vec = per % 4 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx) && (!relu_out || aligned16(relu_out));
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const unsigned grid = unsigned(s.c);
  auto* kernel = vec ? (relu_out ? bn_backward_kernel<true, true> : bn_backward_kernel<true, false>)
                     : (relu_out ? bn_backward_kernel<false, true> : bn_backward_kernel<false, false>);
  kernel<<<grid, kThreads, 0, st>>>(s, x, gamma, mean, invstd, dy, dx, dgamma, dbeta, relu_out);
  CLSA_CUDA_LAUNCH_CHECK("bn_backward");
  return CLSA_OK;
}

}  // namespace clsa::cuda::nn
