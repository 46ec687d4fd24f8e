// Tensor-core sweeps (CLSA_PRECISION_TF32 / BF16 / FP16), flash-attention-2 style, D <= 128.
//
// Block: 64 slots (4 warps x 16 rows) x one split of X's column tiles (64 columns each).
// Q (converted by the prologue) is loaded once with cp.async and kept in registers as mma A
// fragments; X tiles stream through a two-stage cp.async pipeline (zero-filled past the end
// of X and past the row's valid elements) into XOR-swizzled shared memory. Per tile:
//   S = Q X^T          (mma, fp32 accumulators)
//   running max m = fl(max S * log2(e)/t) (the own-key logit is read from the same S)
//   O *= 2^(m_old - m_new), P = 2^(S * log2(e)/t - m) (one FFMA + ex2 per element)
//   P rounded to the input format in registers, O += P X (mma, X^T via ldmatrix.trans)
// Own-key and end-of-X checks only run in the tiles that need them.
// 16-bit: mma.m16n8k16 (two m16n8k8 on sm_75 for fp16), ldmatrix. tf32: mma.m16n8k8 with
// scalar swizzled loads; the k order of P X is permuted so that the S accumulator fragment is
// directly the A fragment (column 2t <-> k = t, column 2t+1 <-> k = t+4).
// bf16 and tf32 need sm_80; their sm_75 builds trap and the driver never launches them there.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "common.cuh"
#include "head_kernels.cuh"

namespace clsa::cuda {
namespace {

constexpr int BM = kMmaRows, BN = kMmaTileN, DT = kMmaD, NWARPS = 4, NT = NWARPS * 32;
static_assert(BM == NWARPS * 16, "one m16 row block per warp");
static_assert(BN % 16 == 0 && DT % 16 == 0, "tiles are whole k16 steps");

template <MmaKind K>
struct Traits;
template <>
struct Traits<MmaKind::BF16> {
  using T = __nv_bfloat16;
  static constexpr int CE = 8;  // elements per 16-byte chunk
};
template <>
struct Traits<MmaKind::FP16> {
  using T = __half;
  static constexpr int CE = 8;
};
template <>
struct Traits<MmaKind::TF32> {
  using T = float;
  static constexpr int CE = 4;
};

// Offset of element (row, col) of a [rows][DT] tile whose 16-byte chunks are XOR-swizzled by
// row & 7: ldmatrix's eight row addresses and the tf32 fragment loads hit eight bank groups.
template <int CE>
__device__ __forceinline__ int swz(int row, int col) {
  static_assert(DT / CE >= 8, "the swizzle needs at least 8 chunks per row");
  return row * DT + (((col / CE) ^ (row & 7)) * CE) + (col % CE);
}

__device__ __forceinline__ void cp16(void* smem, const void* gmem, bool valid) {
#if defined(CLSA_CUDA_EMU)
  ::emu::cp_async16(smem, gmem, valid);
#elif __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: nothing read, 16 zero bytes written
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
#else
  uint4 v = make_uint4(0, 0, 0, 0);
  if (valid) v = *reinterpret_cast<const uint4*>(gmem);
  *reinterpret_cast<uint4*>(smem) = v;
#endif
}
__device__ __forceinline__ void cp_commit() {
#if defined(CLSA_CUDA_EMU)
  ::emu::cp_async_commit();
#elif __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_wait() {
#if defined(CLSA_CUDA_EMU)
  ::emu::cp_async_wait(N);
#elif __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
#if defined(CLSA_CUDA_EMU)
  ::emu::ldmatrix_x4(r, p, false);
#else
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
#endif
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
#if defined(CLSA_CUDA_EMU)
  ::emu::ldmatrix_x4(r, p, true);
#else
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
#endif
}

template <MmaKind K>
__device__ __forceinline__ void mma16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);

template <>
__device__ __forceinline__ void mma16<MmaKind::BF16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(CLSA_CUDA_EMU)
  ::emu::mma_m16n8k16_bf16(c, a, b0, b1);
#elif __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

template <>
__device__ __forceinline__ void mma16<MmaKind::FP16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(CLSA_CUDA_EMU)
  // The emulated device's architecture picks the path the sm_75 / sm_80 builds take below.
  if (::emu::arch() >= 800) {
    ::emu::mma_m16n8k16_f16(c, a, b0, b1);
  } else {
    ::emu::mma_m16n8k8_f16(c, a[0], a[1], b0);
    ::emu::mma_m16n8k8_f16(c, a[2], a[3], b1);
  }
#elif __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  // Turing: k16 = two k8 steps (a0,a1 | b0 then a2,a3 | b1).
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(b0));
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[2]), "r"(a[3]), "r"(b1));
#endif
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(CLSA_CUDA_EMU)
  ::emu::mma_m16n8k8_tf32(c[0], c[1], c[2], c[3], a, b0, b1);
#elif __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

__device__ __forceinline__ uint32_t to_tf32(float x) {
#if defined(CLSA_CUDA_EMU)
  return ::emu::cvt_rna_tf32(x);
#elif __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
#else
  return __float_as_uint(x);
#endif
}

template <MmaKind K>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<MmaKind::BF16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo: the lower column
  return *reinterpret_cast<uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<MmaKind::FP16>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Copies a [BN][DT] tile of X (columns j0..j0+BN) into swizzled shared memory. A thread always
// copies the same 16-byte chunk column of rows r0, r0 + NT/CPR, ...
template <class T, int CE>
__device__ __forceinline__ void load_x(T* xs, const SweepArgs& a, int64_t j0, int tid) {
  constexpr int CPR = DT / CE, RSTEP = NT / CPR;
  static_assert(NT % CPR == 0 && BN % RSTEP == 0, "whole rows per pass");
  const int ch = tid % CPR, r0 = tid / CPR;
  const int64_t e = int64_t(ch) * CE;
  const bool okk = e < a.validk, okq = e < a.validq;
  const T* xk = static_cast<const T*>(a.xk);
  const T* xq = static_cast<const T*>(a.xq) + e;
#pragma unroll
  for (int k = 0; k < BN / RSTEP; ++k) {
    const int row = r0 + k * RSTEP;
    const int64_t j = j0 + row;
    const T* src = xk;
    bool ok = false;
    if (j < a.n) {
      ok = okk;
      if (ok) src = xk + j * a.ldxk + e;
    } else if (j < a.c) {
      ok = okq;
      if (ok) src = xq + (j - a.n) * a.ldxq;
    }
    cp16(xs + swz<CE>(row, ch * CE), src, ok);
  }
}

// Copies the block's [BM][DT] query rows (slot s reads query row s, or s - M for the second
// temperature's slots).
template <class T, int CE>
__device__ __forceinline__ void load_q(T* qs, const SweepArgs& a, int64_t slot0, int tid) {
  constexpr int CPR = DT / CE;
  for (int idx = tid; idx < BM * CPR; idx += NT) {
    const int row = idx / CPR, ch = idx % CPR;
    const int64_t slot = slot0 + row, e = int64_t(ch) * CE;
    const T* src = static_cast<const T*>(a.q);
    const bool ok = slot < a.slots && e < a.ldq;
    if (ok) src = static_cast<const T*>(a.q) + (slot < a.m ? slot : slot - a.m) * a.ldq + e;
    cp16(qs + swz<CE>(row, ch * CE), src, ok);
  }
}

// Blocks per SM the 16-bit sweeps are register-limited to: 3 on Hopper (168 registers, no
// spills there); sm_75/sm_80 spill a little at 168, so they keep 2 (no register cap).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
constexpr int kMinBlocks16 = 1;
#else
constexpr int kMinBlocks16 = 3;
#endif

// The thread holding column `o` of accumulator row half H (rows g / g+8) stores it. The value
// is selected with compile-time indices only, so the accumulators stay in registers.
template <int H, int NB>
__device__ __forceinline__ void record_own(const float (&sacc)[NB][4], int o, int t4, float* dst) {
  // Arithmetic masks rather than selects: a select chain gets turned back into a runtime index
  // (and the accumulators into local memory). S is finite here, so 0 * S = 0 exactly.
  const float odd = float(o & 1), even = 1.0f - odd;
  float v = 0.0f;
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) {
    const float hit = float((o >> 3) == nb);
    v += hit * (even * sacc[nb][2 * H] + odd * sacc[nb][2 * H + 1]);
  }
  if (((o >> 1) & 3) == t4) *dst = v;
}

template <MmaKind K>
__global__ __launch_bounds__(NT, K == MmaKind::TF32 ? 1 : kMinBlocks16) void sweep_mma_kernel(SweepArgs a) {
  using T = typename Traits<K>::T;
  constexpr int CE = Traits<K>::CE;
  constexpr bool kTf32 = K == MmaKind::TF32;
  constexpr int KQ = kTf32 ? 8 : 16;  // k extent of one mma
  constexpr int NB = BN / 8;          // n-blocks of S
  constexpr int ND = DT / 8;          // n-blocks of O

  extern __shared__ uint4 smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* xs_base = qs + BM * DT;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
  const int64_t slot0 = int64_t(blockIdx.x) * BM;
  const int sp = blockIdx.y;
  const int64_t t0 = a.tiles * sp / a.splits, t1 = a.tiles * (sp + 1) / a.splits;

  load_q<T, CE>(qs, a, slot0, tid);
  if (t0 < t1) load_x<T, CE>(xs_base, a, t0 * BN, tid);
  cp_commit();

  // Rows g and g + 8 of the warp's 16 (h = 0, 1): slot = slot0 + warp * 16 + g + 8h.
  const int64_t slot_g = slot0 + warp * 16 + g;
  int64_t own_col[2];
  float scale[2], mrow[2], lrow[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t slot = slot_g + 8 * h;
    own_col[h] = slot < a.m ? slot % a.n : -1;
    scale[h] = slot < a.wn ? a.scale1 : a.scale2;
    mrow[h] = -INFINITY;
    lrow[h] = 0.0f;
  }
  float oacc[ND][4];
#pragma unroll
  for (int i = 0; i < ND; ++i) oacc[i][0] = oacc[i][1] = oacc[i][2] = oacc[i][3] = 0.0f;

  cp_wait<0>();
  __syncthreads();

  // Q as A fragments, one per k step.
  uint32_t qf[DT / KQ][4];
  const int wr = warp * 16;
  if constexpr (kTf32) {
    const float* q32 = reinterpret_cast<const float*>(qs);
#pragma unroll
    for (int ks = 0; ks < DT / KQ; ++ks) {
      qf[ks][0] = to_tf32(q32[swz<CE>(wr + g, ks * 8 + t4)]);
      qf[ks][1] = to_tf32(q32[swz<CE>(wr + g + 8, ks * 8 + t4)]);
      qf[ks][2] = to_tf32(q32[swz<CE>(wr + g, ks * 8 + t4 + 4)]);
      qf[ks][3] = to_tf32(q32[swz<CE>(wr + g + 8, ks * 8 + t4 + 4)]);
    }
  } else {
    const int mi = lane >> 3;
#pragma unroll
    for (int ks = 0; ks < DT / KQ; ++ks)
      ldsm_x4(qf[ks], qs + swz<CE>(wr + (lane & 7) + (mi & 1) * 8, ks * 16 + (mi >> 1) * 8));
  }

  for (int64_t t = t0; t < t1; ++t) {
    const int stage = int(t - t0) & 1;
    if (t + 1 < t1) load_x<T, CE>(xs_base + (stage ^ 1) * BN * DT, a, (t + 1) * BN, tid);
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    const T* xs = xs_base + stage * BN * DT;

    // S = Q X^T
    float sacc[NB][4];
#pragma unroll
    for (int i = 0; i < NB; ++i) sacc[i][0] = sacc[i][1] = sacc[i][2] = sacc[i][3] = 0.0f;
    if constexpr (kTf32) {
      const float* x32 = reinterpret_cast<const float*>(xs);
#pragma unroll
      for (int ks = 0; ks < DT / 8; ++ks)
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
          const uint32_t b0 = to_tf32(x32[swz<CE>(nb * 8 + g, ks * 8 + t4)]);
          const uint32_t b1 = to_tf32(x32[swz<CE>(nb * 8 + g, ks * 8 + t4 + 4)]);
          mma_tf32(sacc[nb], qf[ks], b0, b1);
        }
    } else {
      const int mi = lane >> 3;
#pragma unroll
      for (int ks = 0; ks < DT / 16; ++ks)
#pragma unroll
        for (int nb2 = 0; nb2 < NB / 2; ++nb2) {
          uint32_t b[4];
          ldsm_x4(b, xs + swz<CE>(nb2 * 16 + (lane & 7) + (mi >> 1) * 8, ks * 16 + (mi & 1) * 8));
          mma16<K>(sacc[2 * nb2], qf[ks], b[0], b[1]);
          mma16<K>(sacc[2 * nb2 + 1], qf[ks], b[2], b[3]);
        }
    }

    // Own-key logit from this product: only the one tile holding row h's key does any work.
    const int64_t j0 = t * BN;
    {
      const int64_t off0 = own_col[0] - j0, off1 = own_col[1] - j0;
      if (off0 >= 0 && off0 < BN) record_own<0>(sacc, int(off0), t4, a.own + slot_g);
      if (off1 >= 0 && off1 < BN) record_own<1>(sacc, int(off1), t4, a.own + slot_g + 8);
    }
    // Columns past N + K exist only in the last tile.
    if (j0 + BN > a.c) {
#pragma unroll
      for (int nb = 0; nb < NB; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (j0 + nb * 8 + 2 * t4 + (e & 1) >= a.c) sacc[nb][e] = -INFINITY;
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) mx = fmaxf(mx, fmaxf(sacc[nb][2 * h], sacc[nb][2 * h + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // Rounding is monotonic and scale > 0, so fl(max_j s_j * scale) = max_j fl(s_j * scale): the
      // running max (log2 domain) is exactly the number the combine step compares the own logit
      // with, while P itself takes one FFMA per element.
      const float mnew = fmaxf(mrow[h], __fmul_rn(mx, scale[h]));
      const float f = exp2f(mrow[h] - mnew);  // 0 at the first tile
      mrow[h] = mnew;
      const float sc = scale[h], neg = -mnew;
      float sum = 0.0f;
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) {
        sacc[nb][2 * h] = exp2f(fmaf(sacc[nb][2 * h], sc, neg));
        sacc[nb][2 * h + 1] = exp2f(fmaf(sacc[nb][2 * h + 1], sc, neg));
        sum += sacc[nb][2 * h] + sacc[nb][2 * h + 1];
      }
      lrow[h] = lrow[h] * f + sum;  // per-thread partial; the quad is summed at the end
#pragma unroll
      for (int nd = 0; nd < ND; ++nd) {
        oacc[nd][2 * h] *= f;
        oacc[nd][2 * h + 1] *= f;
      }
    }

    // O += P X
    if constexpr (kTf32) {
      const float* x32 = reinterpret_cast<const float*>(xs);
#pragma unroll
      for (int ks = 0; ks < NB; ++ks) {
        const uint32_t pa[4] = {to_tf32(sacc[ks][0]), to_tf32(sacc[ks][2]), to_tf32(sacc[ks][1]), to_tf32(sacc[ks][3])};
#pragma unroll
        for (int nd = 0; nd < ND; ++nd) {
          const uint32_t b0 = to_tf32(x32[swz<CE>(ks * 8 + 2 * t4, nd * 8 + g)]);
          const uint32_t b1 = to_tf32(x32[swz<CE>(ks * 8 + 2 * t4 + 1, nd * 8 + g)]);
          mma_tf32(oacc[nd], pa, b0, b1);
        }
      }
    } else {
      const int mi = lane >> 3;
#pragma unroll
      for (int ks = 0; ks < BN / 16; ++ks) {
        const uint32_t pa[4] = {pack2<K>(sacc[2 * ks][0], sacc[2 * ks][1]), pack2<K>(sacc[2 * ks][2], sacc[2 * ks][3]),
                                pack2<K>(sacc[2 * ks + 1][0], sacc[2 * ks + 1][1]),
                                pack2<K>(sacc[2 * ks + 1][2], sacc[2 * ks + 1][3])};
#pragma unroll
        for (int nd2 = 0; nd2 < ND / 2; ++nd2) {
          uint32_t b[4];
          ldsm_x4_t(b, xs + swz<CE>(ks * 16 + (lane & 7) + (mi & 1) * 8, nd2 * 16 + (mi >> 1) * 8));
          mma16<K>(oacc[2 * nd2], pa, b[0], b[1]);
          mma16<K>(oacc[2 * nd2 + 1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the next iteration's cp.async overwrites the other stage
  }
  cp_wait<0>();

#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = lrow[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int64_t slot = slot_g + 8 * h;
    if (slot >= a.slots) continue;
    float* dst = a.state_o + (int64_t(sp) * a.slots + slot) * a.dpad;
#pragma unroll
    for (int nd = 0; nd < ND; ++nd) {
      const int64_t col = nd * 8 + 2 * t4;  // even; dpad is a multiple of 4
      if (col < a.dpad) *reinterpret_cast<float2*>(dst + col) = make_float2(oacc[nd][2 * h], oacc[nd][2 * h + 1]);
    }
    if (t4 == 0) {
      float* ml = a.state_ml + (int64_t(sp) * a.slots + slot) * 2;
      ml[0] = mrow[h];
      ml[1] = l;
    }
  }
}

template <MmaKind K>
clsa_status launch(const SweepArgs& a, cudaStream_t stream) {
  const int64_t rowblocks = (a.slots + BM - 1) / BM;
  if (rowblocks > INT32_MAX || a.splits > 65535)
    return fail(CLSA_ERR_UNSUPPORTED, "fused head: grid of %lld x %d blocks is too large", (long long)rowblocks, a.splits);
  const size_t smem = mma_smem_bytes(K);
  CLSA_CUDA_TRY(cudaFuncSetAttribute(sweep_mma_kernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                "cudaFuncSetAttribute(sweep_mma_kernel)");
  dim3 grid(unsigned(rowblocks), unsigned(a.splits));
  sweep_mma_kernel<K><<<grid, NT, smem, stream>>>(a);
  CLSA_CUDA_LAUNCH_CHECK("sweep_mma_kernel");
  return CLSA_OK;
}

}  // namespace

size_t mma_smem_bytes(MmaKind kind) {
  const size_t esz = kind == MmaKind::TF32 ? 4 : 2;
  return size_t(BM + 2 * BN) * DT * esz;
}

template <MmaKind K>
int blocks_per_sm() {
  const size_t smem = mma_smem_bytes(K);
  int n = 0;
  if (cudaFuncSetAttribute(sweep_mma_kernel<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, sweep_mma_kernel<K>, NT, smem) != cudaSuccess) {
    cudaGetLastError();
    return 1;
  }
  return n > 0 ? n : 1;
}

int mma_blocks_per_sm(MmaKind kind) {
  switch (kind) {
    case MmaKind::TF32: return blocks_per_sm<MmaKind::TF32>();
    case MmaKind::BF16: return blocks_per_sm<MmaKind::BF16>();
    case MmaKind::FP16: return blocks_per_sm<MmaKind::FP16>();
  }
  return 1;
}

clsa_status launch_sweep_mma(MmaKind kind, const SweepArgs& a, cudaStream_t stream) {
  switch (kind) {
    case MmaKind::TF32: return launch<MmaKind::TF32>(a, stream);
    case MmaKind::BF16: return launch<MmaKind::BF16>(a, stream);
    case MmaKind::FP16: return launch<MmaKind::FP16>(a, stream);
  }
  return fail(CLSA_ERR_INTERNAL, "fused head: unknown tensor-core precision %d", int(kind));
}

}  // namespace clsa::cuda
