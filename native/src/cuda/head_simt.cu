// The exact-fp32 sweep (CLSA_PRECISION_FP32): plain FFMA, any D. The safe baseline the
// tensor-core kernels are compared with; same algorithm as the CPU's head_fused.inl.
//
// Block: 64 slots x one split of X's column tiles (32 columns each), 256 threads; thread
// (rg, cg) owns rows 4rg..4rg+3 and columns 2cg, 2cg+1 of the S tile, and the O columns
// d0 + 4cg + {0..3} and d0 + 64 + 4cg + {0..3} of its rows (all shared loads 8 or 16 bytes). S = Q X^T is accumulated over D in chunks of 32 through
// shared memory; O lives in registers for a 128-column slice (blockIdx.z picks the slice, so
// D > 128 recomputes S once per slice — correct for any D, fast for D <= 128).
#include <cmath>

#include "common.cuh"
#include "head_kernels.cuh"

namespace clsa::cuda {
namespace {

constexpr int BM = kSimtRows, BN = kSimtTileN, DS = kSimtSlice, DC = 32, NT = 256;
static_assert(BM == 16 * 4 && BN == 16 * 2 && DS == 128, "thread (rg, cg) tiling assumes 16 x 16 threads, O columns 4cg and 64 + 4cg");
static_assert(NT == 256, "16 x 16 threads");
static_assert((BM + 4) % 4 == 0, "float4 rows of Qt and Pt");
static_assert(DS % DC == 0, "resident Q is read in DC chunks");

constexpr int QLD = BM + 4;  // row stride of the transposed Q and P tiles (float4-aligned rows)
constexpr int XLD = BN + 2;  // row stride of the transposed X chunk (float2-aligned rows)
constexpr int VLD = DS + 4;  // row stride of the X slice (float4-aligned rows)

// Dynamic shared memory: Qt [DQ][QLD] | Xt [DC][XLD] | Pt [BN][QLD] | Xv [BN][VLD], where
// DQ = DS when Q stays resident (D <= 128: loaded once, not once per tile) and DC otherwise.
constexpr size_t smem_floats(bool resident) {
  return size_t(resident ? DS : DC) * QLD + size_t(DC) * XLD + size_t(BN) * QLD + size_t(BN) * VLD;
}
static_assert((size_t(DS) * QLD * 4) % 16 == 0 && (size_t(DC) * QLD * 4) % 16 == 0 && (size_t(DC) * XLD * 4) % 16 == 0 &&
                  (size_t(BN) * QLD * 4) % 16 == 0,
              "Xt, Pt and Xv must start 16-byte aligned");
static_assert(smem_floats(true) * 4 <= 65536, "fits the 64 KB a block may use on sm_75");

template <bool kResident>
__global__ __launch_bounds__(NT) void sweep_simt_kernel(SweepArgs a) {
  // Q and P are stored transposed ([e][row], [col][row]) so that a thread's four rows are one
  // 16-byte load.
  extern __shared__ float4 smem4[];
  float* const qt_base = reinterpret_cast<float*>(smem4);
  float (*Xt)[XLD] = reinterpret_cast<float (*)[XLD]>(qt_base + (kResident ? DS : DC) * QLD);
  float (*Pt)[QLD] = reinterpret_cast<float (*)[QLD]>(&Xt[DC][0]);
  float (*Xv)[VLD] = reinterpret_cast<float (*)[VLD]>(&Pt[BN][0]);
  const int tid = threadIdx.x, rg = tid >> 4, cg = tid & 15;
  const int64_t slot0 = int64_t(blockIdx.x) * BM;
  const int sp = blockIdx.y;
  const int64_t d0 = int64_t(blockIdx.z) * DS;
  const int64_t t0 = a.tiles * sp / a.splits, t1 = a.tiles * (sp + 1) / a.splits;
  const float* q = static_cast<const float*>(a.q);
  const float* xk = static_cast<const float*>(a.xk);
  const float* xq = static_cast<const float*>(a.xq);

  float mrow[4], lrow[4], scale[4], o[4][8];
  int64_t ownc[4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t slot = slot0 + rg * 4 + r;
    scale[r] = slot < a.wn ? a.scale1 : a.scale2;
    ownc[r] = (slot < a.m && blockIdx.z == 0) ? slot % a.n : -1;
    mrow[r] = -INFINITY;
    lrow[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) o[r][i] = 0.0f;
  }

  // Q rows for e0..e0+rows into qt[e - e0][row] (zero past D and past the slots).
  auto load_q = [&](int64_t e0, int rows) {
    for (int idx = tid; idx < BM * rows; idx += NT) {
      const int r = idx / rows, e = idx % rows;
      const int64_t slot = slot0 + r, gd = e0 + e;
      float v = 0.0f;
      if (slot < a.slots && gd < a.d) v = q[(slot < a.m ? slot : slot - a.m) * a.ldq + gd];
      qt_base[e * QLD + r] = v;
    }
  };
  if (kResident) load_q(0, DS);  // visible after the first __syncthreads below

  for (int64_t t = t0; t < t1; ++t) {
    const int64_t j0 = t * BN;
    float s[4][2] = {};
    for (int64_t e0 = 0; e0 < a.d; e0 += DC) {
      if (!kResident) load_q(e0, DC);
      const float* Qt = kResident ? qt_base + e0 * QLD : qt_base;
      for (int idx = tid; idx < BN * DC; idx += NT) {
        const int c = idx / DC, e = idx % DC;
        const int64_t j = j0 + c, gd = e0 + e;
        float v = 0.0f;
        if (j < a.c && gd < a.d) v = j < a.n ? xk[j * a.ldxk + gd] : xq[(j - a.n) * a.ldxq + gd];
        Xt[e][c] = v;
      }
      __syncthreads();
#pragma unroll 8
      for (int e = 0; e < DC; ++e) {
        const float2 x2 = *reinterpret_cast<const float2*>(&Xt[e][2 * cg]);
        const float x0 = x2.x, x1 = x2.y;
        const float4 q4 = *reinterpret_cast<const float4*>(Qt + e * QLD + rg * 4);
        const float qv[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          s[r][0] = fmaf(qv[r], x0, s[r][0]);
          s[r][1] = fmaf(qv[r], x1, s[r][1]);
        }
      }
      __syncthreads();
    }

    // Own-key logit, mask past the end, online softmax (log2 domain), P to shared memory.
    float p[4][2];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      float z[2];
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int64_t j = j0 + 2 * cg + c;
        if (j == ownc[r]) a.own[slot0 + rg * 4 + r] = s[r][c];
        z[c] = j < a.c ? __fmul_rn(s[r][c], scale[r]) : -INFINITY;
      }
      float mx = fmaxf(z[0], z[1]);
#pragma unroll
      for (int off = 8; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float mnew = fmaxf(mrow[r], mx);
      const float f = exp2f(mrow[r] - mnew);  // 0 at the first tile (m = -inf)
      const float p0 = exp2f(z[0] - mnew), p1 = exp2f(z[1] - mnew);
      mrow[r] = mnew;
      lrow[r] = lrow[r] * f + (p0 + p1);
#pragma unroll
      for (int i = 0; i < 8; ++i) o[r][i] *= f;
      p[r][0] = p0;
      p[r][1] = p1;
    }
    *reinterpret_cast<float4*>(&Pt[2 * cg][rg * 4]) = make_float4(p[0][0], p[1][0], p[2][0], p[3][0]);
    *reinterpret_cast<float4*>(&Pt[2 * cg + 1][rg * 4]) = make_float4(p[0][1], p[1][1], p[2][1], p[3][1]);

    // O += P X over this slice of D.
    for (int idx = tid; idx < BN * DS; idx += NT) {
      const int c = idx / DS, e = idx % DS;
      const int64_t j = j0 + c, gd = d0 + e;
      float v = 0.0f;
      if (j < a.c && gd < a.d) v = j < a.n ? xk[j * a.ldxk + gd] : xq[(j - a.n) * a.ldxq + gd];
      Xv[c][e] = v;
    }
    __syncthreads();
#pragma unroll 4
    for (int c = 0; c < BN; ++c) {
      // O columns of this thread: 4cg..4cg+3 and 64+4cg..64+4cg+3 (two float4 loads, each a
      // contiguous 256 bytes across the half-warp).
      const float4 xa = *reinterpret_cast<const float4*>(&Xv[c][4 * cg]);
      const float4 xb = *reinterpret_cast<const float4*>(&Xv[c][64 + 4 * cg]);
      const float x[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
      const float4 p4 = *reinterpret_cast<const float4*>(&Pt[c][rg * 4]);
      const float pv[4] = {p4.x, p4.y, p4.z, p4.w};
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int i = 0; i < 8; ++i) o[r][i] = fmaf(pv[r], x[i], o[r][i]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    float l = lrow[r];
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
    const int64_t slot = slot0 + rg * 4 + r;
    if (slot >= a.slots) continue;
    float* dst = a.state_o + (int64_t(sp) * a.slots + slot) * a.dpad;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t d = d0 + (i < 4 ? 4 * cg + i : 64 + 4 * cg + (i - 4));
      if (d < a.dpad) dst[d] = o[r][i];
    }
    if (blockIdx.z == 0 && cg == 0) {
      float* ml = a.state_ml + (int64_t(sp) * a.slots + slot) * 2;
      ml[0] = mrow[r];
      ml[1] = l;
    }
  }
}

}  // namespace

int simt_blocks_per_sm(int64_t d) {
  int n = 0;
  cudaError_t e;
  if (d <= DS) {
    const size_t smem = smem_floats(true) * sizeof(float);
    e = cudaFuncSetAttribute(sweep_simt_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (e == cudaSuccess) e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, sweep_simt_kernel<true>, NT, smem);
  } else {
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, sweep_simt_kernel<false>, NT, smem_floats(false) * sizeof(float));
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return 1;
  }
  return n > 0 ? n : 1;
}

clsa_status launch_sweep_simt(const SweepArgs& a, cudaStream_t stream) {
  const int64_t rowblocks = (a.slots + BM - 1) / BM;
  const int64_t slices = (a.d + DS - 1) / DS;
  if (rowblocks > INT32_MAX || a.splits > 65535 || slices > 65535)
    return fail(CLSA_ERR_UNSUPPORTED, "fused head (fp32): grid of %lld x %d x %lld blocks is too large",
                (long long)rowblocks, a.splits, (long long)slices);
  dim3 grid(unsigned(rowblocks), unsigned(a.splits), unsigned(slices));
  if (a.d <= DS) {
    const size_t smem = smem_floats(true) * sizeof(float);  // 64256 bytes: fits sm_75's 64 KB too
    CLSA_CUDA_TRY(cudaFuncSetAttribute(sweep_simt_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                  "cudaFuncSetAttribute(sweep_simt_kernel)");
    sweep_simt_kernel<true><<<grid, NT, smem, stream>>>(a);
  } else {
    sweep_simt_kernel<false><<<grid, NT, smem_floats(false) * sizeof(float), stream>>>(a);
  }
  CLSA_CUDA_LAUNCH_CHECK("sweep_simt_kernel");
  return CLSA_OK;
}

}  // namespace clsa::cuda
