// Convolution (CNHW, no bias) on the shared GEMM core (gemm.cuh), all three products as implicit
// GEMMs whose operands are gathered while the shared-memory tiles are loaded:
//
//   forward   y[co][p]  = sum_r  w[co][r] col(r, p)           M = cout, N = n*ho*wo, K = cin*k*k
//   weights   dW[co][r] = sum_p  dy[co][p] col(r, p)          M = cout, N = cin*k*k, K = n*ho*wo
//   input     dx[ci][q] = sum_t  w[co][ci][ky][kx] dy(t, q)   M = cin,  N = n*h*w,   K = cout*k*k
//
// with col(r = (c, ky, kx), p = (img, oy, ox)) = x[c][img][oy*s - pad + ky][ox*s - pad + kx] (0
// outside the image) and, for the input gradient (a transposed convolution written directly into
// dx: no col2im scatter, no atomics), dy(t = (co, ky, kx), q = (img, iy, ix)) = dy[co][img][oy][ox]
// when iy + pad - ky = oy*s and ix + pad - kx = ox*s for in-range oy, ox, else 0.
//
// The weight gradient reduces over all pixels of the batch (up to ~260k), so it is split over K
// into a scratch buffer of slices [split][cout][cin*k*k], summed by a second kernel in split order
// and added to dw: deterministic, no float atomics. The split count depends on the shape only
// (not on the device), so the workspace size and the summation order are fixed for a shape.
#include <algorithm>

#include "../common.cuh"
#include "gemm.cuh"
#include "launch.cuh"
#include "nn.h"

namespace clsa::cuda::nn {
namespace {

constexpr int32_t kFar = -(1 << 30);  // an offset that puts any tap outside the image

// Output pixel p = (img, oy, ox): where its receptive field starts.
struct PixInfo {
  int32_t base;      // img * h * w: the image inside a channel plane
  int32_t iy0, ix0;  // oy * stride - pad, ox * stride - pad (iy0 = kFar: invalid pixel)
};
// Column-matrix row r = (c, ky, kx).
struct TapInfo {
  int64_t coff;  // c * n*h*w
  int32_t ky, kx;  // ky = kFar: invalid row
};

struct Im2col {
  const float* x;
  int64_t plane;  // n*h*w
  int32_t h, w, k, kk, stride, pad, hw, wo, howo, P, kd;
  FastDiv f_howo, f_wo, f_kk, f_k;

  __device__ __forceinline__ PixInfo pix(int p, int lim) const {
    if (p >= lim) return {0, kFar, 0};
    const int img = f_howo.div(p), rem = p - img * howo;
    const int oy = f_wo.div(rem), ox = rem - oy * wo;
    return {img * hw, oy * stride - pad, ox * stride - pad};
  }
  __device__ __forceinline__ TapInfo tap(int r, int lim) const {
    if (r >= lim) return {0, kFar, 0};
    const int c = f_kk.div(r), j = r - c * kk;
    const int ky = f_k.div(j), kx = j - ky * k;
    return {int64_t(c) * plane, ky, kx};
  }
  // An invalid side makes iy hugely negative (kFar + small, or 2 * kFar = INT32_MIN: no
  // overflow), which the unsigned compare rejects. base + iy*w + ix < n*h*w fits int32.
  __device__ __forceinline__ float at(const PixInfo& p, const TapInfo& t) const {
    const int iy = p.iy0 + t.ky, ix = p.ix0 + t.kx;
    return (unsigned(iy) < unsigned(h) && unsigned(ix) < unsigned(w)) ? __ldg(x + t.coff + (p.base + iy * w + ix))
                                                                       : 0.0f;
  }
};

// Forward B(r, p): d = pixel (contiguous in x for stride 1: DC loader), k = column row.
struct ConvFwdB {
  Im2col s;
  using D = PixInfo;
  using K = TapInfo;
  __device__ __forceinline__ D d_info(int d) const { return s.pix(d, s.P); }
  __device__ __forceinline__ K k_info(int k, int kend) const { return s.tap(k, kend); }
  __device__ __forceinline__ float load(const D& d, const K& k) const { return s.at(d, k); }
};

// Weight-gradient B(p, r) = col(r, p): d = column row, k = pixel (contiguous: KC loader).
struct ConvWgradB {
  Im2col s;
  using D = TapInfo;
  using K = PixInfo;
  __device__ __forceinline__ D d_info(int d) const { return s.tap(d, s.kd); }
  __device__ __forceinline__ K k_info(int k, int kend) const { return s.pix(k, kend); }
  __device__ __forceinline__ float load(const D& d, const K& k) const { return s.at(k, d); }
};

// Input-gradient A(ci, t) = w[co][ci][j], t = co*kk + j.
struct ConvDgradA {
  const float* w;
  int64_t co_stride;  // cin * kk
  int32_t cin, kk;
  FastDiv f_kk;
  struct D {
    int32_t off;
    bool ok;
  };
  struct K {
    int64_t off;
    bool ok;
  };
  __device__ __forceinline__ D d_info(int ci) const { return {ci * kk, ci < cin}; }
  __device__ __forceinline__ K k_info(int t, int kend) const {
    const int co = f_kk.div(t), j = t - co * kk;
    return {int64_t(co) * co_stride + j, t < kend};
  }
  __device__ __forceinline__ float load(const D& d, const K& k) const {
    return (d.ok && k.ok) ? __ldg(w + k.off + d.off) : 0.0f;
  }
};

// Input-gradient B(t, q): d = input pixel q = (img, iy, ix) (DC loader), k = t = (co, ky, kx).
struct ConvDgradB {
  const float* dy;
  int64_t plane;  // n*ho*wo
  int32_t ho, wo, howo, w, hw, k, kk, pad, stride, Q;
  FastDiv f_hw, f_w, f_kk, f_k, f_s;
  struct D {
    int32_t base;      // img * ho*wo
    int32_t ty0, tx0;  // iy + pad, ix + pad (ty0 = kFar: invalid)
  };
  struct K {
    int64_t coff;    // co * n*ho*wo
    int32_t ky, kx;  // ky = -kFar: invalid
  };
  __device__ __forceinline__ D d_info(int q) const {
    if (q >= Q) return {0, kFar, 0};
    const int img = f_hw.div(q), rem = q - img * hw;
    const int iy = f_w.div(rem), ix = rem - iy * w;
    return {img * howo, iy + pad, ix + pad};
  }
  __device__ __forceinline__ K k_info(int t, int kend) const {
    if (t >= kend) return {0, -kFar, 0};
    const int co = f_kk.div(t), j = t - co * kk;
    const int ky = f_k.div(j), kx = j - ky * k;
    return {int64_t(co) * plane, ky, kx};
  }
  // Output pixel (oy, ox) reaches input (iy, ix) through tap (ky, kx) iff
  // iy + pad - ky = oy * stride with 0 <= oy < ho (same for x). Invalid sides give ty < 0
  // (kFar - small, or kFar - 2^30 = INT32_MIN: no overflow).
  __device__ __forceinline__ float load(const D& d, const K& k) const {
    const int ty = d.ty0 - k.ky, tx = d.tx0 - k.kx;
    if ((ty | tx) < 0) return 0.0f;
    const int oy = f_s.div(ty), ox = f_s.div(tx);
    if (oy * stride != ty || ox * stride != tx || oy >= ho || ox >= wo) return 0.0f;
    return __ldg(dy + k.coff + (d.base + oy * wo + ox));
  }
};

Im2col make_im2col(const ConvShape& s, const float* x) {
  Im2col c;
  c.x = x;
  c.plane = s.n * s.h * s.w;
  c.h = int32_t(s.h), c.w = int32_t(s.w), c.k = int32_t(s.k), c.kk = int32_t(s.k * s.k);
  c.stride = int32_t(s.stride), c.pad = int32_t(s.pad), c.hw = int32_t(s.h * s.w);
  c.wo = int32_t(s.wo()), c.howo = int32_t(s.ho() * s.wo()), c.P = int32_t(s.n * s.ho() * s.wo());
  c.kd = int32_t(s.kdim());
  c.f_howo = FastDiv(c.howo), c.f_wo = FastDiv(c.wo), c.f_kk = FastDiv(c.kk), c.f_k = FastDiv(c.k);
  return c;
}

// a * b into *r unless it exceeds kGemmMaxDim (or is negative).
bool mul_dim(int64_t a, int64_t b, int64_t* r) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > kGemmMaxDim / a) return false;
  *r = a * b;
  return *r <= kGemmMaxDim;
}

// Why shape s cannot run (nullptr when it can): every int32 quantity the kernels form must fit
// (pixels per channel plane in and out, the GEMM dimensions, padded extents), and the grid limits.
const char* shape_error(const ConvShape& s) {
  if (s.cin < 1 || s.cout < 1 || s.k < 1 || s.stride < 1 || s.pad < 0 || s.n < 1 || s.h < 1 || s.w < 1)
    return "bad shape (a size below 1 or a negative pad)";
  int64_t t = 0;
  const bool fits = s.cin <= kGemmMaxDim && s.cout <= kGemmMaxDim && s.k <= kGemmMaxDim && s.stride <= kGemmMaxDim &&
                    s.n <= kGemmMaxDim && s.pad <= (1 << 20) && s.h + 2 * s.pad <= kGemmMaxDim &&
                    s.w + 2 * s.pad <= kGemmMaxDim &&                  // iy + pad, oy * stride
                    mul_dim(s.h, s.w, &t) && mul_dim(t, s.n, &t) &&   // n*h*w
                    mul_dim(s.k, s.k, &t) && mul_dim(t, s.cin, &t) &&  // cin*k*k
                    mul_dim(s.k * s.k, s.cout, &t) &&                  // cout*k*k
                    gemm_grid_ok(s.cout, 1) && gemm_grid_ok(s.cin, 1);
  if (!fits) return "shape too large for 32-bit in-plane indexing";
  if (s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) return "kernel larger than the padded input";
  if (!mul_dim(s.ho(), s.wo(), &t) || !mul_dim(t, s.n, &t)) return "output too large for 32-bit in-plane indexing";
  return nullptr;
}

clsa_status check_shape(const ConvShape& s, const char* what) {
  const char* why = shape_error(s);
  if (!why) return CLSA_OK;
  return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: %s (cin %lld cout %lld k %lld stride %lld pad %lld n %lld h %lld w %lld)",
              what, why, (long long)s.cin, (long long)s.cout, (long long)s.k, (long long)s.stride, (long long)s.pad,
              (long long)s.n, (long long)s.h, (long long)s.w);
}

struct WgradPlan {
  int64_t splits, chunk;
};

// Split of the weight gradient's K = n*ho*wo. Only the shape decides (see the top comment).
// Aim: about two waves of blocks on a 132-SM H100/H200 (2 blocks of 256 threads per SM), but no
// slice shorter than kMinChunk pixels (each block should stream a long K range), at most
// kMaxSplits slices.
WgradPlan wgrad_plan(const ConvShape& s) {
  constexpr int64_t kTargetBlocks = 528, kMinChunk = 1024, kMaxSplits = 256;
  const int64_t M = s.cout, N = s.kdim(), K = s.n * s.ho() * s.wo();
  const int64_t tiles = ((M + kGemmBM - 1) / kGemmBM) * ((N + kGemmBN - 1) / kGemmBN);
  int64_t splits = std::min({(K + kMinChunk - 1) / kMinChunk, (kTargetBlocks + tiles - 1) / tiles, kMaxSplits});
  splits = std::max<int64_t>(1, splits);
  int64_t chunk = (K + splits - 1) / splits;
  chunk = (chunk + kGemmBK - 1) / kGemmBK * kGemmBK;
  splits = (K + chunk - 1) / chunk;  // no empty slice
  return {splits, chunk};
}

// dw[i] += sum_s ws[s][i], summed in split order (the fixed order makes dw deterministic).
__global__ void wgrad_reduce_kernel(const float* __restrict__ ws, int64_t count, int64_t splits, float* __restrict__ dw) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    float acc = ws[i];
    for (int64_t z = 1; z < splits; ++z) acc += ws[z * count + i];
    dw[i] += acc;
  }
}

__global__ void wgrad_reduce4_kernel(const float4* __restrict__ ws, int64_t count4, int64_t splits,
                                     float4* __restrict__ dw) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count4; i += stride) {
    float4 acc = ws[i];
    for (int64_t z = 1; z < splits; ++z) {
      const float4 v = ws[z * count4 + i];
      acc.x += v.x, acc.y += v.y, acc.z += v.z, acc.w += v.w;
    }
    float4 d = dw[i];
    d.x += acc.x, d.y += acc.y, d.z += acc.z, d.w += acc.w;
    dw[i] = d;
  }
}

}  // namespace

size_t conv_workspace_floats(const ConvShape& s, int32_t precision) {
  (void)precision;  // the same plan for every precision
  if (shape_error(s)) return 0;  // the call itself will then fail with the reason
  const WgradPlan p = wgrad_plan(s);
  return p.splits > 1 ? size_t(p.splits) * size_t(s.cout) * size_t(s.kdim()) : 0;
}

clsa_status conv_forward(const ConvShape& s, const float* x, const float* w, float* y, int32_t precision,
                         float* workspace, size_t workspace_floats, void* stream) {
  (void)workspace, (void)workspace_floats;  // the forward product needs no scratch
  CLSA_TRY(check_shape(s, "conv_forward"));
  if (!x || !w || !y) return fail(CLSA_ERR_INVALID_ARGUMENT, "conv_forward: null pointer");
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const Im2col c = make_im2col(s, x);
  const DenseSrc a{w, s.kdim(), 1, int32_t(s.cout)};
  const GemmOut out{y, int64_t(c.P), 0, nullptr, false};
  const int K = c.kd;
  const cudaError_t e =
      gemm_launch<true, false>(a, ConvFwdB{c}, out, int(s.cout), c.P, K, 1, std::max(K, 1), gemm_use_tc(precision), st);
  if (e != cudaSuccess) return cuda_fail(e, "conv_forward");
  return CLSA_OK;
}

clsa_status conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          int32_t precision, float* workspace, size_t workspace_floats, void* stream) {
  CLSA_TRY(check_shape(s, "conv_backward"));
  if (!x || !dy || !dw || (dx && !w)) return fail(CLSA_ERR_INVALID_ARGUMENT, "conv_backward: null pointer");
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const bool tc = gemm_use_tc(precision);
  const Im2col c = make_im2col(s, x);
  const WgradPlan plan = wgrad_plan(s);
  const int64_t wsize = s.cout * s.kdim();
  if (plan.splits > 1) {
    const size_t need = size_t(plan.splits) * size_t(wsize);
    if (!workspace || workspace_floats < need)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "conv_backward: workspace of %zu floats, %zu needed (conv_workspace_floats)",
                  workspace ? workspace_floats : size_t(0), need);
  }

  // dW = dy [cout][P] x col^T [P][kd]: A rows are dy rows (contiguous in p), B is col^T.
  {
    const DenseSrc a{dy, int64_t(c.P), 1, int32_t(s.cout)};
    const GemmOut out = plan.splits > 1 ? GemmOut{workspace, int64_t(c.kd), wsize, nullptr, false}
                                        : GemmOut{dw, int64_t(c.kd), 0, nullptr, true};
    cudaError_t e = gemm_launch<true, true>(a, ConvWgradB{c}, out, int(s.cout), c.kd, c.P, int(plan.splits),
                                            int(plan.chunk), tc, st);
    if (e != cudaSuccess) return cuda_fail(e, "conv_backward (weight gradient)");
    if (plan.splits > 1) {
      constexpr int kThreads = 256;
      if (wsize % 4 == 0 && aligned16(workspace) && aligned16(dw))
        wgrad_reduce4_kernel<<<grid_for(wsize / 4, kThreads), kThreads, 0, st>>>(
            reinterpret_cast<const float4*>(workspace), wsize / 4, plan.splits, reinterpret_cast<float4*>(dw));
      else
        wgrad_reduce_kernel<<<grid_for(wsize, kThreads), kThreads, 0, st>>>(workspace, wsize, plan.splits, dw);
      CLSA_CUDA_LAUNCH_CHECK("conv_backward (weight-gradient reduction)");
    }
  }

  // dX = W^T-taps x dy-gather, straight into dx (overwritten).
  if (dx) {
    ConvDgradA a;
    a.w = w;
    a.co_stride = s.cin * s.k * s.k;
    a.cin = int32_t(s.cin), a.kk = int32_t(s.k * s.k);
    a.f_kk = FastDiv(a.kk);
    ConvDgradB b;
    b.dy = dy;
    b.plane = int64_t(c.P);
    b.ho = int32_t(s.ho()), b.wo = int32_t(s.wo()), b.howo = int32_t(s.ho() * s.wo());
    b.w = int32_t(s.w), b.hw = int32_t(s.h * s.w), b.k = int32_t(s.k), b.kk = int32_t(s.k * s.k);
    b.pad = int32_t(s.pad), b.stride = int32_t(s.stride), b.Q = int32_t(s.n * s.h * s.w);
    b.f_hw = FastDiv(b.hw), b.f_w = FastDiv(b.w), b.f_kk = FastDiv(b.kk), b.f_k = FastDiv(b.k);
    b.f_s = FastDiv(b.stride);
    const int K = int(s.cout * s.k * s.k);
    const GemmOut out{dx, int64_t(b.Q), 0, nullptr, false};
    const cudaError_t e = gemm_launch<true, false>(a, b, out, int(s.cin), b.Q, K, 1, std::max(K, 1), tc, st);
    if (e != cudaSuccess) return cuda_fail(e, "conv_backward (input gradient)");
  }
  return CLSA_OK;
}

}  // namespace clsa::cuda::nn
