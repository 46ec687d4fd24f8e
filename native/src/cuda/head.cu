// The fused CLSA head on CUDA (docs/objective.md), the same function as the CPU's head.cpp:
//   1. prologue: L2-normalise queries and keys (norms kept for the backward), round Q and X
//      to the compute format (bf16/fp16: X = [keys; queue] converted into the workspace;
//      fp32/tf32 read the queue in place);
//   2. sweep: online softmax over column tiles of X, split across blocks (head_simt.cu for
//      fp32, head_mma.cu for tf32/bf16/fp16), each split leaving (max, sum, O) per slot;
//   3. merge the splits (flash-decoding): normalised O, max and lse per slot;
//   4. combine: per-row losses and gradients through the normalisation, then one block sums
//      the per-row terms (in double, fixed order) into stats[4] in device memory.
// Nothing of size M x (N + K) exists. All work is enqueued on desc.stream; the call only
// synchronises when it had to allocate its own workspace (to free it).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "common.cuh"
#include "cuda_api.h"
#include "head_kernels.cuh"

namespace clsa::cuda {
namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;
constexpr size_t kWorkspaceBudget = size_t(30) << 20;  // bytes of workspace we aim to stay under (issue: 32 MB)

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Plan {
  bool mma = false;
  MmaKind kind = MmaKind::BF16;
  size_t esz = 4;                 // bytes per element of the converted Q / X
  int64_t m = 0, wn = 0, slots = 0, c = 0;
  int64_t ldq = 0, ldx = 0;       // converted row strides (elements)
  int64_t kconv = 0;              // queue rows converted into the workspace (0: read in place)
  int64_t dpad = 0, tiles = 0, rowblocks = 0, slices = 1;
  int splits = 1;
  // workspace offsets (bytes)
  size_t o_q = 0, o_xk = 0, o_xq = 0, o_norm = 0, o_inv = 0, o_own = 0, o_so = 0, o_sml = 0, o_lse = 0, o_mmax = 0,
         o_sumw = 0, o_parts = 0, total = 0;
};

clsa_status make_plan(const clsa_head_desc& d, const float* queue, Plan* out) {
  Plan p;
  p.mma = d.precision != CLSA_PRECISION_FP32;
  p.kind = d.precision == CLSA_PRECISION_TF32 ? MmaKind::TF32 : d.precision == CLSA_PRECISION_BF16 ? MmaKind::BF16 : MmaKind::FP16;
  p.esz = (d.precision == CLSA_PRECISION_BF16 || d.precision == CLSA_PRECISION_FP16) ? 2 : 4;
  const int64_t ce = int64_t(16 / p.esz);
  p.m = (d.w + d.s) * d.n;
  p.wn = d.w * d.n;
  const bool second = d.s > 0 && d.temperature != d.ddm_temperature;
  p.slots = p.m + (second ? p.wn : 0);
  p.c = d.n + d.k;
  p.ldq = p.ldx = round_up(d.d, ce);
  p.dpad = round_up(d.d, 4);
  // bf16/fp16 always convert the queue; tf32 reads it in place when rows are 16-byte aligned.
  const bool aligned = d.d % 4 == 0 && (reinterpret_cast<uintptr_t>(queue) & 15) == 0;
  p.kconv = (p.mma && (p.esz == 2 || !aligned)) ? d.k : 0;

  int dev = d.device_index, sms = 0;
  CLSA_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  const int64_t rows = p.mma ? kMmaRows : kSimtRows;
  const int64_t tile = p.mma ? kMmaTileN : kSimtTileN;
  p.rowblocks = (p.slots + rows - 1) / rows;
  p.tiles = (p.c + tile - 1) / tile;
  p.slices = p.mma ? 1 : (d.d + kSimtSlice - 1) / kSimtSlice;
  // Splits: the fewest that minimise waves x tiles per block (a partial last wave costs a whole
  // one), within the memory budget for split states.
  const int64_t resident = int64_t(std::max(sms, 1)) * (p.mma ? mma_blocks_per_sm(p.kind) : simt_blocks_per_sm(d.d));
  const int64_t fixed = int64_t(p.m * p.ldq + d.n * p.ldx + p.kconv * p.ldx) * int64_t(p.esz);
  const int64_t budget = std::max<int64_t>(int64_t(4) << 20, int64_t(kWorkspaceBudget) - fixed);
  const int64_t per_split = p.slots * (p.dpad + 2) * 4;
  const int64_t max_splits = std::max<int64_t>(1, std::min<int64_t>({p.tiles, 1024, budget / per_split}));
  int64_t best = 1, best_cost = INT64_MAX;
  for (int64_t s = 1; s <= max_splits; ++s) {
    const int64_t waves = (p.rowblocks * p.slices * s + resident - 1) / resident;
    const int64_t cost = waves * ((p.tiles + s - 1) / s);
    if (cost < best_cost) {
      best = s;
      best_cost = cost;
    }
  }
  p.splits = int(best);

  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t at = off;
    off += (bytes + 255) / 256 * 256;
    return at;
  };
  p.o_q = take(size_t(p.m * p.ldq) * p.esz);
  p.o_xk = take(size_t(d.n * p.ldx) * p.esz);
  p.o_xq = take(size_t(p.kconv * p.ldx) * p.esz);
  p.o_norm = take(size_t(p.m + d.n) * 4);
  p.o_inv = take(size_t(p.m + d.n) * 4);
  p.o_own = take(size_t(p.m) * 4);
  p.o_so = take(size_t(p.splits) * size_t(p.slots) * size_t(p.dpad) * 4);
  p.o_sml = take(size_t(p.splits) * size_t(p.slots) * 2 * 4);
  p.o_lse = take(size_t(p.slots) * 4);
  p.o_mmax = take(size_t(p.slots) * 4);
  p.o_sumw = take(size_t(d.n * p.dpad) * 4);
  p.o_parts = take(size_t(p.m) * 3 * 4);
  p.total = off;
  *out = p;
  return CLSA_OK;
}

// ---- 1. prologue -----------------------------------------------------------------------------

struct PrologueArgs {
  const float *weak, *strong, *keys, *queue;
  void *q, *xk, *xq;
  float *norms, *inv;
  int64_t n, d, m, wn, kconv, ldq, ldx;
  bool normalize;
};

template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

// One warp per row: query rows, then key rows (both normalised as the CPU does: the norm in
// double, one float reciprocal, a float multiply), then queue rows (converted only).
template <class T>
__global__ void prologue_kernel(PrologueArgs p) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  const int lane = threadIdx.x;
  if (r >= p.m + p.n + p.kconv) return;
  const float* src;
  T* dst;
  bool norm = p.normalize;
  int64_t ld = p.ldq;
  if (r < p.wn) {
    src = p.weak + r * p.d;
    dst = static_cast<T*>(p.q) + r * p.ldq;
  } else if (r < p.m) {
    src = p.strong + (r - p.wn) * p.d;
    dst = static_cast<T*>(p.q) + r * p.ldq;
  } else if (r < p.m + p.n) {
    src = p.keys + (r - p.m) * p.d;
    dst = static_cast<T*>(p.xk) + (r - p.m) * p.ldx;
    ld = p.ldx;
  } else {
    const int64_t j = r - p.m - p.n;
    src = p.queue + j * p.d;
    dst = static_cast<T*>(p.xq) + j * p.ldx;
    ld = p.ldx;
    norm = false;
  }
  float inv = 1.0f;
  if (norm) {
    double ss = 0;
    for (int64_t e = lane; e < p.d; e += 32) ss += double(src[e]) * src[e];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const double nr = sqrt(ss);
    inv = float(1.0 / nr);
    if (lane == 0) {
      p.norms[r] = float(nr);
      p.inv[r] = inv;
    }
  } else if (lane == 0 && r < p.m + p.n) {
    p.norms[r] = 1.0f;
    p.inv[r] = 1.0f;
  }
  for (int64_t e = lane; e < ld; e += 32) dst[e] = from_float<T>(e < p.d ? (norm ? src[e] * inv : src[e]) : 0.0f);
}

// ---- 3. merge --------------------------------------------------------------------------------

// One warp per slot: O = sum_s 2^(m_s - m) O_s / l, l = sum_s 2^(m_s - m) l_s, into split 0.
__global__ void merge_kernel(float* __restrict__ so, const float* __restrict__ sml, float* __restrict__ lse,
                             float* __restrict__ mmax, int64_t slots, int splits, int64_t d, int64_t dpad) {
  const int64_t s = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  const int lane = threadIdx.x;
  if (s >= slots) return;
  float mx = -INFINITY;
  for (int sp = 0; sp < splits; ++sp) mx = fmaxf(mx, sml[(int64_t(sp) * slots + s) * 2]);
  double l = 0;
  for (int sp = 0; sp < splits; ++sp) {
    const float* ml = sml + (int64_t(sp) * slots + s) * 2;
    l += double(exp2f(ml[0] - mx)) * ml[1];
  }
  const float invl = float(1.0 / l);
  for (int64_t e = lane; e < d; e += 32) {
    float acc = 0.0f;
    for (int sp = 0; sp < splits; ++sp) {
      const float f = exp2f(sml[(int64_t(sp) * slots + s) * 2] - mx);
      acc = fmaf(f, so[(int64_t(sp) * slots + s) * dpad + e], acc);
    }
    so[s * dpad + e] = acc * invl;
  }
  if (lane == 0) {
    mmax[s] = mx;
    lse[s] = float(kLn2 * (double(mx) + log2(l)));
  }
}

// ---- 4. combine ------------------------------------------------------------------------------

struct CombineArgs {
  const float *weak, *strong, *keys;
  const float *o, *lse, *mmax, *own, *norms, *inv;
  float* sumw;
  float *grad_weak, *grad_strong, *parts, *stats;
  int64_t n, d, m, wn, w, dpad;
  bool second, normalize;
  float tau, tau2, alpha, scale1;
};

// sumw[i] = sum_w O_tau2(q_wi): one thread per (i, e).
__global__ void sumw_kernel(CombineArgs a) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= a.n * a.d) return;
  const int64_t i = idx / a.d, e = idx % a.d;
  float acc = 0.0f;
  for (int64_t w = 0; w < a.w; ++w) {
    const int64_t r = w * a.n + i;
    acc += a.o[(a.second ? a.m + r : r) * a.dpad + e];
  }
  a.sumw[i * a.dpad + e] = acc;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per query row: its loss terms (into parts[3r..3r+2]) and its gradient.
__global__ void combine_kernel(CombineArgs a) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  const int lane = threadIdx.x;
  if (r >= a.m) return;
  const int64_t i = r % a.n;
  const bool weak = r < a.wn;
  const float* z = weak ? a.weak + r * a.d : a.strong + (r - a.wn) * a.d;
  const float qinv = a.inv[r];
  const float kinv = a.inv[a.m + i];
  const float* o = a.o + r * a.dpad;
  const float* sw = a.sumw + i * a.dpad;
  const float* kr = a.keys + i * a.d;
  const float N = float(a.n), W = float(a.w);
  auto qv = [&](int64_t e) { return a.normalize ? z[e] * qinv : z[e]; };
  auto gv = [&](int64_t e) {
    if (weak) return (o[e] - (a.normalize ? kr[e] * kinv : kr[e])) / (a.tau * N);
    return a.alpha * (W * o[e] - sw[e]) / (a.tau2 * N);
  };
  if (weak) {
    if (lane == 0) {
      const float own = a.own[r];
      a.parts[3 * r] = (a.lse[r] - own / a.tau) / N;
      a.parts[3 * r + 1] = 0.0f;
      a.parts[3 * r + 2] = __fmul_rn(own, a.scale1) >= a.mmax[r] ? 1.0f : 0.0f;
    }
  } else {
    float dot = 0.0f;
    for (int64_t e = lane; e < a.d; e += 32) dot = fmaf(qv(e), sw[e], dot);
    dot = warp_sum(dot);
    if (lane == 0) {
      a.parts[3 * r] = 0.0f;
      a.parts[3 * r + 1] = (W * a.lse[r] - dot / a.tau2) / N;
      a.parts[3 * r + 2] = 0.0f;
    }
  }
  float* out = weak ? a.grad_weak : a.grad_strong;
  if (!out) return;
  out += (weak ? r : r - a.wn) * a.d;
  if (a.normalize) {
    float qg = 0.0f;
    for (int64_t e = lane; e < a.d; e += 32) qg = fmaf(qv(e), gv(e), qg);
    qg = warp_sum(qg);
    for (int64_t e = lane; e < a.d; e += 32) out[e] = (gv(e) - qv(e) * qg) * qinv;
  } else {
    for (int64_t e = lane; e < a.d; e += 32) out[e] = gv(e);
  }
}

// One block: the per-row terms summed in double in a fixed order (deterministic).
__global__ void stats_kernel(const float* __restrict__ parts, int64_t m, int64_t wn, float alpha, float* __restrict__ stats) {
  __shared__ double sh[3][256];
  double acc[3] = {0, 0, 0};
  for (int64_t r = threadIdx.x; r < m; r += blockDim.x)
    for (int k = 0; k < 3; ++k) acc[k] += parts[3 * r + k];
  for (int k = 0; k < 3; ++k) sh[k][threadIdx.x] = acc[k];
  __syncthreads();
  for (int step = blockDim.x / 2; step > 0; step >>= 1) {
    if (int(threadIdx.x) < step)
      for (int k = 0; k < 3; ++k) sh[k][threadIdx.x] += sh[k][threadIdx.x + step];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    stats[0] = float(sh[0][0] + double(alpha) * sh[1][0]);
    stats[1] = float(sh[0][0]);
    stats[2] = float(sh[1][0]);
    stats[3] = float(sh[2][0] / double(wn));
  }
}

clsa_status check_capability(const clsa_head_desc& d) {
  if (d.precision == CLSA_PRECISION_FP32) return CLSA_OK;
  static const char* names[] = {"fp32", "tf32", "bf16", "fp16"};
  if (d.d > kMmaD)
    return fail(CLSA_ERR_UNSUPPORTED,
                "desc->precision: the %s tensor-core kernel supports D <= %d but got D = %lld; use fp32 (any D)",
                names[d.precision], kMmaD, (long long)d.d);
  int major = 0, minor = 0;
  CLSA_CUDA_TRY(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d.device_index), "cudaDeviceGetAttribute");
  CLSA_CUDA_TRY(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d.device_index), "cudaDeviceGetAttribute");
  if ((d.precision == CLSA_PRECISION_TF32 || d.precision == CLSA_PRECISION_BF16) && major < 8)
    return fail(CLSA_ERR_UNSUPPORTED,
                "desc->precision: %s needs a GPU of compute capability 8.0 or newer but device %d is %d.%d; use fp16 or fp32",
                names[d.precision], d.device_index, major, minor);
  return CLSA_OK;
}

clsa_status run(const clsa_head_desc& d, const clsa_head_tensors& t, const Plan& p, char* ws, cudaStream_t st) {
  float* norms = reinterpret_cast<float*>(ws + p.o_norm);
  float* inv = reinterpret_cast<float*>(ws + p.o_inv);
  PrologueArgs pa{t.weak, t.strong, t.keys, t.queue, ws + p.o_q, ws + p.o_xk, ws + p.o_xq, norms, inv,
                  d.n, d.d, p.m, p.wn, p.kconv, p.ldq, p.ldx, d.normalize != 0};
  {
    const int64_t rows = p.m + d.n + p.kconv;
    dim3 block(32, 8);
    const int64_t blocks = (rows + 7) / 8;
    if (blocks > INT32_MAX) return fail(CLSA_ERR_UNSUPPORTED, "fused head: %lld prologue rows are too many", (long long)rows);
    if (p.esz == 4)
      prologue_kernel<float><<<unsigned(blocks), block, 0, st>>>(pa);
    else if (d.precision == CLSA_PRECISION_BF16)
      prologue_kernel<__nv_bfloat16><<<unsigned(blocks), block, 0, st>>>(pa);
    else
      prologue_kernel<__half><<<unsigned(blocks), block, 0, st>>>(pa);
    CLSA_CUDA_LAUNCH_CHECK("prologue_kernel");
  }

  SweepArgs a{};
  a.q = ws + p.o_q;
  a.ldq = p.ldq;
  a.xk = ws + p.o_xk;
  a.ldxk = p.ldx;
  a.validk = p.ldx;
  if (p.kconv > 0) {
    a.xq = ws + p.o_xq;
    a.ldxq = p.ldx;
    a.validq = p.ldx;
  } else {
    a.xq = t.queue;
    a.ldxq = d.d;
    a.validq = d.d;  // a multiple of 4 here (tf32) or unused by the scalar fp32 loads
  }
  a.n = d.n;
  a.c = p.c;
  a.d = d.d;
  a.m = p.m;
  a.wn = p.wn;
  a.slots = p.slots;
  a.scale1 = float(kLog2e / d.temperature);
  a.scale2 = float(kLog2e / d.ddm_temperature);
  a.tiles = p.tiles;
  a.splits = p.splits;
  a.dpad = p.dpad;
  a.state_o = reinterpret_cast<float*>(ws + p.o_so);
  a.state_ml = reinterpret_cast<float*>(ws + p.o_sml);
  a.own = reinterpret_cast<float*>(ws + p.o_own);
  if (p.mma)
    CLSA_TRY(launch_sweep_mma(p.kind, a, st));
  else
    CLSA_TRY(launch_sweep_simt(a, st));

  float* lse = reinterpret_cast<float*>(ws + p.o_lse);
  float* mmax = reinterpret_cast<float*>(ws + p.o_mmax);
  {
    dim3 block(32, 8);
    merge_kernel<<<unsigned((p.slots + 7) / 8), block, 0, st>>>(a.state_o, a.state_ml, lse, mmax, p.slots, p.splits, d.d,
                                                                p.dpad);
    CLSA_CUDA_LAUNCH_CHECK("merge_kernel");
  }

  CombineArgs c{};
  c.weak = t.weak;
  c.strong = t.strong;
  c.keys = t.keys;
  c.o = a.state_o;
  c.lse = lse;
  c.mmax = mmax;
  c.own = a.own;
  c.norms = norms;
  c.inv = inv;
  c.sumw = reinterpret_cast<float*>(ws + p.o_sumw);
  c.grad_weak = t.grad_weak;
  c.grad_strong = d.s > 0 ? t.grad_strong : nullptr;
  c.parts = reinterpret_cast<float*>(ws + p.o_parts);
  c.stats = t.stats;
  c.n = d.n;
  c.d = d.d;
  c.m = p.m;
  c.wn = p.wn;
  c.w = d.w;
  c.dpad = p.dpad;
  c.second = p.slots > p.m;
  c.normalize = d.normalize != 0;
  c.tau = d.temperature;
  c.tau2 = d.ddm_temperature;
  c.alpha = d.ddm_weight;
  c.scale1 = a.scale1;
  if (d.s > 0) {
    const int64_t total = d.n * d.d;
    sumw_kernel<<<unsigned((total + 255) / 256), 256, 0, st>>>(c);
    CLSA_CUDA_LAUNCH_CHECK("sumw_kernel");
  }
  {
    dim3 block(32, 8);
    combine_kernel<<<unsigned((p.m + 7) / 8), block, 0, st>>>(c);
    CLSA_CUDA_LAUNCH_CHECK("combine_kernel");
  }
  stats_kernel<<<1, 256, 0, st>>>(c.parts, p.m, p.wn, d.ddm_weight, t.stats);
  CLSA_CUDA_LAUNCH_CHECK("stats_kernel");
  return CLSA_OK;
}

}  // namespace

size_t head_workspace_size(const clsa_head_desc& d) {
  if (use_device(d.device_index) != CLSA_OK) return 0;
  Plan p;
  // Sized for an aligned queue (what cudaMalloc gives); a misaligned tf32 queue needs more and
  // is then reported by head_fused.
  alignas(16) static const float aligned_probe = 0.0f;
  if (make_plan(d, &aligned_probe, &p) != CLSA_OK) return 0;
  return p.total + 256;
}

clsa_status head_fused(const clsa_head_desc& d, const clsa_head_tensors& t, void* workspace, size_t bytes) {
  CLSA_TRY(use_device(d.device_index));
  CLSA_TRY(check_capability(d));
  Plan p;
  CLSA_TRY(make_plan(d, t.queue, &p));
  cudaStream_t st = static_cast<cudaStream_t>(d.stream);
  void* owned = nullptr;
  if (!workspace) {
    CLSA_TRY(device_alloc(d.device_index, p.total, &owned));
    workspace = owned;
    bytes = p.total;
  }
  char* ws = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(workspace) + 255) & ~uintptr_t(255));
  const size_t lost = size_t(ws - static_cast<char*>(workspace));
  if (bytes < lost + p.total) {
    if (owned) cudaFree(owned);
    return fail(CLSA_ERR_INVALID_ARGUMENT, "workspace_bytes: expected at least %zu bytes but got %zu", p.total + lost, bytes);
  }
  clsa_status s = run(d, t, p, ws, st);
  if (owned) {
    const cudaError_t e = cudaStreamSynchronize(st);
    cudaFree(owned);
    if (s == CLSA_OK && e != cudaSuccess) s = cuda_fail(e, "fused head (cudaStreamSynchronize)");
  }
  return s;
}

}  // namespace clsa::cuda
