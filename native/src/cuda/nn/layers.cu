// CUDA twins of cpu/nn/layers.cpp: element-wise layers, the NCHW -> CNHW gather (with the key
// encoder's batch shuffle), the key un-shuffle, global average pooling and the linear layer (on
// the GEMM core of gemm.cuh).
//
// Element-wise kernels run a float4 grid-stride loop when every pointer is 16-byte aligned (then
// a scalar loop over the count % 4 tail), else a scalar grid-stride loop. Outputs may alias
// inputs where the CPU allows it (relu y = x, add_relu y = a or b, relu_backward dx = dy): each
// element is read and then written by the same thread, and nothing is __restrict__ or read
// through the non-coherent cache there.
#include <algorithm>
#include <cmath>

#include "../common.cuh"
#include "gemm.cuh"
#include "launch.cuh"
#include "nn.h"

namespace clsa::cuda::nn {
namespace {

constexpr int kThreads = 256;

// f.one(i) for element i, f.four(i) for elements 4i .. 4i+3.
template <class F>
__global__ void elementwise_kernel(F f, int64_t count, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = count / 4;
    for (int64_t i = tid; i < n4; i += stride) f.four(i);
    done = n4 * 4;
  }
  for (int64_t i = done + tid; i < count; i += stride) f.one(i);
}

template <class F>
clsa_status run_elementwise(const F& f, int64_t count, bool vec, void* stream, const char* what) {
  if (count < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: negative count", what);
  if (count == 0) return CLSA_OK;
  const int64_t items = vec ? count / 4 + 1 : count;
  // <F> spelled out: the host emulator (test/cuda-host) launches through a function pointer,
  // which cannot deduce it.
  elementwise_kernel<F><<<grid_for(items, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(f, count, vec);
  CLSA_CUDA_LAUNCH_CHECK(what);
  return CLSA_OK;
}

__device__ __forceinline__ float relu1(float v) { return v > 0.0f ? v : 0.0f; }  // NaN -> 0, as the CPU

struct ReluF {
  const float* x;
  float* y;
  __device__ void one(int64_t i) const { y[i] = relu1(x[i]); }
  __device__ void four(int64_t i) const {
    float4 v = reinterpret_cast<const float4*>(x)[i];
    v.x = relu1(v.x), v.y = relu1(v.y), v.z = relu1(v.z), v.w = relu1(v.w);
    reinterpret_cast<float4*>(y)[i] = v;
  }
};

struct ReluBackF {
  const float* y;
  const float* dy;
  float* dx;
  __device__ void one(int64_t i) const { dx[i] = y[i] > 0.0f ? dy[i] : 0.0f; }
  __device__ void four(int64_t i) const {
    const float4 m = reinterpret_cast<const float4*>(y)[i];
    float4 g = reinterpret_cast<const float4*>(dy)[i];
    g.x = m.x > 0.0f ? g.x : 0.0f, g.y = m.y > 0.0f ? g.y : 0.0f;
    g.z = m.z > 0.0f ? g.z : 0.0f, g.w = m.w > 0.0f ? g.w : 0.0f;
    reinterpret_cast<float4*>(dx)[i] = g;
  }
};

struct AddReluF {
  const float* a;
  const float* b;
  float* y;
  __device__ void one(int64_t i) const { y[i] = relu1(__fadd_rn(a[i], b[i])); }
  __device__ void four(int64_t i) const {
    const float4 u = reinterpret_cast<const float4*>(a)[i];
    const float4 v = reinterpret_cast<const float4*>(b)[i];
    reinterpret_cast<float4*>(y)[i] = make_float4(relu1(__fadd_rn(u.x, v.x)), relu1(__fadd_rn(u.y, v.y)),
                                                  relu1(__fadd_rn(u.z, v.z)), relu1(__fadd_rn(u.w, v.w)));
  }
};

struct AddF {
  float* y;
  const float* x;
  __device__ void one(int64_t i) const { y[i] = __fadd_rn(y[i], x[i]); }
  __device__ void four(int64_t i) const {
    float4 u = reinterpret_cast<float4*>(y)[i];
    const float4 v = reinterpret_cast<const float4*>(x)[i];
    u.x = __fadd_rn(u.x, v.x), u.y = __fadd_rn(u.y, v.y), u.z = __fadd_rn(u.z, v.z), u.w = __fadd_rn(u.w, v.w);
    reinterpret_cast<float4*>(y)[i] = u;
  }
};

// Copies rows of `len` floats: row r of the output from row src(r) of the input, one block per
// row at a time (grid-stride over rows), threads along the row; float4 when len % 4 == 0 and both
// bases are aligned. A source row outside [0, limit) (a bad permutation index) writes NaN rather
// than reading out of bounds, so the bug shows in the results.
__device__ __forceinline__ void copy_row(const float* src, float* dst, int64_t len, bool vec, bool valid) {
  if (vec) {
    const float4* s4 = reinterpret_cast<const float4*>(src);
    float4* d4 = reinterpret_cast<float4*>(dst);
    const float4 nan4 = make_float4(NAN, NAN, NAN, NAN);
    for (int64_t j = threadIdx.x; j < len / 4; j += blockDim.x) d4[j] = valid ? s4[j] : nan4;
  } else {
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) dst[j] = valid ? src[j] : NAN;
  }
}

// out[ch][i][:] = in[perm ? perm[i] : i][ch][:], row r = ch * n + i.
__global__ void gather_cnhw_kernel(const float* __restrict__ in, int64_t rows, int64_t n, int64_t c, int64_t hw,
                                   const int64_t* __restrict__ perm, float* __restrict__ out, bool vec) {
  for (int64_t r = blockIdx.x; r < c * n; r += gridDim.x) {
    const int64_t ch = r / n, i = r - ch * n;
    const int64_t si = perm ? perm[i] : i;
    const bool valid = si >= 0 && si < rows;
    copy_row(in + ((valid ? si : 0) * c + ch) * hw, out + r * hw, hw, vec, valid);
  }
}

// dst[perm[i]][:] = src[i][:]; a bad index writes nothing (there is no row to put NaN into).
__global__ void scatter_rows_kernel(const float* __restrict__ src, int64_t n, int64_t d, const int64_t* __restrict__ perm,
                                    float* __restrict__ dst, bool vec) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t di = perm[i];
    if (di < 0 || di >= n) continue;
    copy_row(src + i * d, dst + di * d, d, vec, true);
  }
}

// Threads per row-copy block: about one per float4 of the row, 32 .. 256.
int row_threads(int64_t len, bool vec) {
  const int64_t items = vec ? len / 4 : len;
  return int(std::min<int64_t>(256, std::max<int64_t>(32, (items + 31) / 32 * 32)));
}

// One warp per (ch, i) row: the sum in double, lane-strided then a fixed xor-shuffle tree, so the
// result is the same on every run.
__global__ void gap_forward_kernel(const float* __restrict__ x, int64_t c, int64_t n, int64_t hw, float* __restrict__ feat) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < c * n; r += warps) {
    const float* p = x + r * hw;
    double s = 0;
    for (int64_t j = lane; j < hw; j += 32) s += double(p[j]);
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
      const int64_t ch = r / n, i = r - ch * n;
      feat[i * c + ch] = float(__ddiv_rn(s, double(hw)));
    }
  }
}

// dx[ch][i][:] = dfeat[i][ch] * inv (inv = 1.0f / float(hw), computed on the host as the CPU does).
__global__ void gap_backward_kernel(const float* __restrict__ dfeat, int64_t c, int64_t n, int64_t hw, float inv,
                                    float* __restrict__ dx, bool vec) {
  for (int64_t r = blockIdx.x; r < c * n; r += gridDim.x) {
    const int64_t ch = r / n, i = r - ch * n;
    const float v = __fmul_rn(dfeat[i * c + ch], inv);
    float* p = dx + r * hw;
    if (vec) {
      float4* p4 = reinterpret_cast<float4*>(p);
      for (int64_t j = threadIdx.x; j < hw / 4; j += blockDim.x) p4[j] = make_float4(v, v, v, v);
    } else {
      for (int64_t j = threadIdx.x; j < hw; j += blockDim.x) p[j] = v;
    }
  }
}

// db[j] += dy[r][j] for r = 0 .. n-1 in order, in float: the CPU's exact sequence of additions.
__global__ void bias_grad_kernel(const float* __restrict__ dy, int64_t n, int64_t out, float* __restrict__ db) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < out; j += stride) {
    float acc = db[j];
    for (int64_t r = 0; r < n; ++r) acc = __fadd_rn(acc, dy[r * out + j]);
    db[j] = acc;
  }
}

unsigned rows_grid(int64_t rows) { return unsigned(std::max<int64_t>(1, std::min<int64_t>(rows, 65535))); }

clsa_status check_dims(int64_t a, int64_t b, int64_t c, const char* what) {
  if (a < 0 || b < 0 || c < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: negative size", what);
  if (a > kMaxDim || b > kMaxDim || c > kMaxDim || (b && a > kMaxElements / b) || (b && c && a * b > kMaxElements / c))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: sizes too large", what);
  return CLSA_OK;
}

clsa_status check_linear(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const char* what) {
  if (n < 0 || in < 0 || out < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: negative size", what);
  if (n > kGemmMaxDim || in > kGemmMaxDim || out > kGemmMaxDim || !gemm_grid_ok(std::max({n, in, out}), 1))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: sizes too large (n %lld in %lld out %lld)", what, (long long)n,
                (long long)in, (long long)out);
  if (!x || !w) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: null pointer", what);
  return CLSA_OK;
}

}  // namespace

clsa_status relu_forward(const float* x, float* y, int64_t count, void* stream) {
  if (count > 0 && (!x || !y)) return fail(CLSA_ERR_INVALID_ARGUMENT, "relu_forward: null pointer");
  return run_elementwise(ReluF{x, y}, count, aligned16(x) && aligned16(y), stream, "relu_forward");
}

clsa_status relu_backward(const float* y, const float* dy, float* dx, int64_t count, void* stream) {
  if (count > 0 && (!y || !dy || !dx)) return fail(CLSA_ERR_INVALID_ARGUMENT, "relu_backward: null pointer");
  return run_elementwise(ReluBackF{y, dy, dx}, count, aligned16(y) && aligned16(dy) && aligned16(dx), stream,
                         "relu_backward");
}

clsa_status add_relu_forward(const float* a, const float* b, float* y, int64_t count, void* stream) {
  if (count > 0 && (!a || !b || !y)) return fail(CLSA_ERR_INVALID_ARGUMENT, "add_relu_forward: null pointer");
  return run_elementwise(AddReluF{a, b, y}, count, aligned16(a) && aligned16(b) && aligned16(y), stream,
                         "add_relu_forward");
}

clsa_status add_inplace(float* y, const float* x, int64_t count, void* stream) {
  if (count > 0 && (!x || !y)) return fail(CLSA_ERR_INVALID_ARGUMENT, "add_inplace: null pointer");
  return run_elementwise(AddF{y, x}, count, aligned16(x) && aligned16(y), stream, "add_inplace");
}

clsa_status gather_cnhw(const float* in, int64_t rows, int64_t n, int64_t c, int64_t hw, const int64_t* perm, float* out,
                        void* stream) {
  CLSA_TRY(check_dims(n, c, hw, "gather_cnhw"));
  if (rows < n) return fail(CLSA_ERR_INVALID_ARGUMENT, "gather_cnhw: rows: expected at least n = %lld images but got %lld",
                            (long long)n, (long long)rows);
  if (n * c * hw == 0) return CLSA_OK;
  if (!in || !out) return fail(CLSA_ERR_INVALID_ARGUMENT, "gather_cnhw: null pointer");
  const bool vec = hw % 4 == 0 && aligned16(in) && aligned16(out);
  gather_cnhw_kernel<<<rows_grid(c * n), row_threads(hw, vec), 0, static_cast<cudaStream_t>(stream)>>>(in, rows, n, c,
                                                                                                       hw, perm, out, vec);
  CLSA_CUDA_LAUNCH_CHECK("gather_cnhw");
  return CLSA_OK;
}

clsa_status scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst, void* stream) {
  CLSA_TRY(check_dims(n, d, 1, "scatter_rows"));
  if (n * d == 0) return CLSA_OK;
  if (!src || !dst || !perm) return fail(CLSA_ERR_INVALID_ARGUMENT, "scatter_rows: null pointer");
  const bool vec = d % 4 == 0 && aligned16(src) && aligned16(dst);
  scatter_rows_kernel<<<rows_grid(n), row_threads(d, vec), 0, static_cast<cudaStream_t>(stream)>>>(src, n, d, perm,
                                                                                                   dst, vec);
  CLSA_CUDA_LAUNCH_CHECK("scatter_rows");
  return CLSA_OK;
}

clsa_status gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat, void* stream) {
  CLSA_TRY(check_dims(c, n, hw, "gap_forward"));
  if (c * n == 0) return CLSA_OK;
  if (hw == 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "gap_forward: hw is 0");
  if (!x || !feat) return fail(CLSA_ERR_INVALID_ARGUMENT, "gap_forward: null pointer");
  const int64_t warps_per_block = kThreads / 32;
  gap_forward_kernel<<<grid_for(c * n, int(warps_per_block)), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      x, c, n, hw, feat);
  CLSA_CUDA_LAUNCH_CHECK("gap_forward");
  return CLSA_OK;
}

clsa_status gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx, void* stream) {
  CLSA_TRY(check_dims(c, n, hw, "gap_backward"));
  if (c * n * hw == 0) return CLSA_OK;
  if (!dfeat || !dx) return fail(CLSA_ERR_INVALID_ARGUMENT, "gap_backward: null pointer");
  const bool vec = hw % 4 == 0 && aligned16(dx);
  const float inv = 1.0f / float(hw);
  gap_backward_kernel<<<rows_grid(c * n), row_threads(hw, vec), 0, static_cast<cudaStream_t>(stream)>>>(
      dfeat, c, n, hw, inv, dx, vec);
  CLSA_CUDA_LAUNCH_CHECK("gap_backward");
  return CLSA_OK;
}

clsa_status linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b, float* y,
                           int32_t precision, void* stream) {
  CLSA_TRY(check_linear(x, n, in, out, w, "linear_forward"));
  if (n == 0 || out == 0) return CLSA_OK;
  if (!y) return fail(CLSA_ERR_INVALID_ARGUMENT, "linear_forward: null pointer");
  // y [n][out] = x [n][in] . W^T: A(i, k) = x[i][k] and B(k, j) = W[j][k], both contiguous in k.
  const DenseSrc a{x, in, 1, int32_t(n)};
  const DenseSrc bsrc{w, in, 1, int32_t(out)};
  const GemmOut o{y, out, 0, b, false};
  const cudaError_t e = gemm_launch<true, true>(a, bsrc, o, int(n), int(out), int(in), 1, int(std::max<int64_t>(in, 1)),
                                                gemm_use_tc(precision), static_cast<cudaStream_t>(stream));
  if (e != cudaSuccess) return cuda_fail(e, "linear_forward");
  return CLSA_OK;
}

clsa_status linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy,
                            float* dx, float* dw, float* db, int32_t precision, void* stream) {
  CLSA_TRY(check_linear(x, n, in, out, w, "linear_backward"));
  if (!dy || !dw) return fail(CLSA_ERR_INVALID_ARGUMENT, "linear_backward: null pointer");
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const bool tc = gemm_use_tc(precision);
  // dW [out][in] += dy^T x: A(o, r) = dy[r][o], B(r, j) = x[r][j], both contiguous along d.
  if (out > 0 && in > 0) {
    const DenseSrc a{dy, 1, out, int32_t(out)};
    const DenseSrc bsrc{x, 1, in, int32_t(in)};
    const GemmOut o{dw, in, 0, nullptr, true};
    const cudaError_t e = gemm_launch<false, false>(a, bsrc, o, int(out), int(in), int(n), 1,
                                                    int(std::max<int64_t>(n, 1)), tc, st);
    if (e != cudaSuccess) return cuda_fail(e, "linear_backward (weight gradient)");
  }
  if (db && out > 0) {
    bias_grad_kernel<<<grid_for(out, kThreads), kThreads, 0, st>>>(dy, n, out, db);
    CLSA_CUDA_LAUNCH_CHECK("linear_backward (bias gradient)");
  }
  // dx [n][in] = dy [n][out] . W [out][in]: A(i, k) = dy[i][k] (contiguous in k), B(k, j) = W[k][j].
  if (dx && n > 0 && in > 0) {
    const DenseSrc a{dy, out, 1, int32_t(n)};
    const DenseSrc bsrc{w, 1, in, int32_t(in)};
    const GemmOut o{dx, in, 0, nullptr, false};
    const cudaError_t e = gemm_launch<true, false>(a, bsrc, o, int(n), int(in), int(out), 1,
                                                   int(std::max<int64_t>(out, 1)), tc, st);
    if (e != cudaSuccess) return cuda_fail(e, "linear_backward (input gradient)");
  }
  return CLSA_OK;
}

}  // namespace clsa::cuda::nn
