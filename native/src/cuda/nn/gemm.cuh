// The one tiled GEMM core behind every convolution and linear layer of the CUDA encoder:
//
//   C[M][N] (+)= sum_k A(m, k) B(k, n)
//
// where A and B are not matrices in memory but *sources*: small structs that say how element
// (d, k) of an operand is fetched (a strided matrix, an im2col element gathered on the fly, a
// transposed-convolution tap of dy, ...). So convolution forward, input gradient, weight gradient
// and the linear layers are all this one kernel with different sources, and no im2col buffer
// ever exists.
//
// Block tile 64 (M) x 128 (N), BK = 8, 256 threads, at most 128 registers (2 blocks per SM).
// (A 128 x 128 tile with 8 x 8 micro-tiles needed ~145 registers with the gather state and
// spilled under that cap; 64 x 128 needs ~100 and still does 32 FFMA per 3 shared loads.)
//  - Loads: each thread fetches its share of the next A and B tiles from global memory into
//    registers while the block computes on the current shared-memory tile, then stores them into
//    the other of two shared buffers (register-staged double buffering: the same code on sm_75,
//    and the transposing k-major stores and zero fill of gathered elements stay plain code; a
//    cp.async multi-stage pipeline is the next step if profiles show the loads exposed). One
//    __syncthreads per k-tile (see the loop for why one is enough).
//  - Shared tiles are k-major, As[k][m] / Bs[k][n], padded so both the transposing stores and the
//    fragment reads are bank-conflict free.
//  - FP32: 16 x 16 threads, each owning a 4 x 8 micro-tile: 4 rows, and two 4-wide column chunks
//    64 apart, read from shared memory as float4 (a warp reads 2 distinct A float4 = broadcast,
//    and 16 consecutive B float4 = conflict free); exact fp32 FFMA with fp32 accumulators.
//  - TF32 (sm_80+, chosen at run time by the caller): 8 warps as 2 (M) x 4 (N), each owning a
//    32 x 32 warp tile of mma.sync.m16n8k8 tf32 accumulators (2 x 4 mma per k-tile); operands
//    rounded to tf32 (cvt.rna) when stored to shared memory. The same loaders, buffers, epilogue.
//  - Split-K: blockIdx.z takes K range [z * kchunk, min(K, (z + 1) * kchunk)) and writes its own
//    slice of C (the caller reduces the slices in a fixed order: deterministic, no atomics).
//  - Epilogue: overwrite or accumulate, optional bias per column, float4 stores when aligned.
//
// Index widths: M, N, K and everything inside one operand row/plane are int32 (the host
// wrappers check the limits); offsets that combine a channel/row with a plane are int64.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace clsa::cuda::nn {

constexpr int kGemmThreads = 256;
constexpr int kGemmBM = 64;
constexpr int kGemmBN = 128;
constexpr int kGemmBK = 8;
// Dimensions the core accepts: below INT32_MAX with room for a tile of overhang, so k0 + BK and
// d0 + BN never overflow int32.
constexpr int64_t kGemmMaxDim = int64_t(INT32_MAX) - 4096;

// Division by a run-time constant as multiply-high + shift (the round-up method, as CUTLASS's
// FastDivmod): q = umulhi(n, mul) >> shr, exact for 0 <= n < 2^31 and 1 <= d < 2^31 (checked
// exhaustively on the host for small n and at random over the whole range). Used for the
// im2col index decompositions, which would otherwise cost ~20 instructions per division.
struct FastDiv {
  int32_t d = 1;
  uint32_t mul = 0, shr = 0;
  FastDiv() = default;
  explicit FastDiv(int32_t divisor) : d(divisor) {
    if (d > 1) {
      uint32_t l = 0;  // ceil(log2(d))
      while ((uint64_t(1) << l) < uint64_t(d)) ++l;
      const uint32_t p = 31 + l;
      mul = uint32_t(((uint64_t(1) << p) + uint64_t(d) - 1) / uint64_t(d));
      shr = p - 32;
    }
  }
  // n must be >= 0.
  __device__ __forceinline__ int32_t div(int32_t n) const {
    return d == 1 ? n : int32_t(__umulhi(uint32_t(n), mul) >> shr);
  }
};

// ---- tile geometry ------------------------------------------------------------------------
template <int BM_, bool TC_>
struct GemmTile {
  static constexpr int BM = BM_, BN = kGemmBN, BK = kGemmBK, THREADS = kGemmThreads;
  static constexpr bool TC = TC_;
  // Row padding of the k-major tiles. FP32: +4 keeps rows 16-byte aligned (float4 reads) and
  // makes the KC loaders' transposing stores conflict free (row k starts at bank 4k mod 32: the
  // 2 rows 4 apart x 16 consecutive d, or 4 rows 2 apart x 8 d, of one warp store hit distinct
  // banks). TF32: +8 makes the fragment reads As[t][g] (t < 4, g < 8) hit 32 distinct banks
  // (the KC stores then have 2-way conflicts: 4 stores per k-tile, against 16 fragment reads).
  static constexpr int PAD = TC ? 8 : 4;
  static constexpr int LDA = BM + PAD, LDB = BN + PAD;
  // FP32 micro-tile: 16 x 16 threads; rows ty*4 + i, columns c*64 + tx*4 + j.
  static constexpr int TM = BM / 16, TN = BN / 16;
  // TF32 warp tile: 2 x 4 warps.
  static constexpr int WM = BM / 2, WN = BN / 4, MB = WM / 16, NB = WN / 8;
  static_assert(BM == 64 && TM == 4 && TN == 8, "the thread mappings below are written for 64 x 128");
  static_assert(THREADS == 256 && BK == 8, "loader mappings assume 256 threads and BK = 8");
};

// ---- loaders: global -> registers -> shared tile T[BK][DIM + PAD] ---------------------------
// A source S provides
//   struct D; D d_info(int d) const;               per-row (M or N side) precomputation
//   struct K; K k_info(int k, int kend) const;     per-k precomputation (k >= kend: invalid)
//   float load(const D&, const K&) const;          the element, 0 outside the operand
// d_info must mark d >= its own extent invalid.

// "D-contiguous": the operand is contiguous along d (pixels of an activation row). Each thread
// owns V consecutive d (fixed for the whole K loop, so their d_info is computed once) and one k
// row per tile; a warp covers 32 * V consecutive d of one k: coalesced.
template <int DIM, int LD, class S>
struct LoaderDC {
  static constexpr int V = DIM * kGemmBK / kGemmThreads;  // 4 (DIM 128) or 2 (DIM 64)
  static constexpr int PER_ROW = DIM / V;                 // threads per k row: 32
  static_assert(V == 2 || V == 4, "float2 / float4 stores");
  int kr, dc;
  typename S::D di[V];
  __device__ __forceinline__ void init(const S& s, int d0, int tid) {
    kr = tid / PER_ROW;
    dc = (tid % PER_ROW) * V;
#pragma unroll
    for (int v = 0; v < V; ++v) di[v] = s.d_info(d0 + dc + v);
  }
  __device__ __forceinline__ void fetch(const S& s, int k0, int kend, float (&r)[V]) const {
    const typename S::K ki = s.k_info(k0 + kr, kend);
#pragma unroll
    for (int v = 0; v < V; ++v) r[v] = s.load(di[v], ki);
  }
  __device__ __forceinline__ void stash(const float (&r)[V], float* tile) const {
    float* p = tile + kr * LD + dc;  // 8- or 16-byte aligned: LD, dc multiples of V
    if constexpr (V == 4)
      *reinterpret_cast<float4*>(p) = make_float4(r[0], r[1], r[2], r[3]);
    else
      *reinterpret_cast<float2*>(p) = make_float2(r[0], r[1]);
  }
};

// "K-contiguous": the operand is contiguous along k (weight rows, dy rows in the weight
// gradient). Each thread owns one d (fixed) and V consecutive k per tile.
template <int DIM, int LD, class S>
struct LoaderKC {
  static constexpr int V = DIM * kGemmBK / kGemmThreads;  // k per thread: 4 or 2
  static constexpr int TPD = kGemmBK / V;                 // threads per d: 2 or 4
  int d, kc;
  typename S::D di;
  __device__ __forceinline__ void init(const S& s, int d0, int tid) {
    d = tid / TPD;
    kc = (tid % TPD) * V;
    di = s.d_info(d0 + d);
  }
  __device__ __forceinline__ void fetch(const S& s, int k0, int kend, float (&r)[V]) const {
#pragma unroll
    for (int v = 0; v < V; ++v) r[v] = s.load(di, s.k_info(k0 + kc + v, kend));
  }
  __device__ __forceinline__ void stash(const float (&r)[V], float* tile) const {
#pragma unroll
    for (int v = 0; v < V; ++v) tile[(kc + v) * LD + d] = r[v];
  }
};

template <bool KC, int DIM, int LD, class S>
struct LoaderOf;
template <int DIM, int LD, class S>
struct LoaderOf<true, DIM, LD, S> {
  using type = LoaderKC<DIM, LD, S>;
};
template <int DIM, int LD, class S>
struct LoaderOf<false, DIM, LD, S> {
  using type = LoaderDC<DIM, LD, S>;
};

// A plain strided matrix: element (d, k) = p[d * sd + k * sk], `dim` valid d.
struct DenseSrc {
  const float* p;
  int64_t sd, sk;
  int32_t dim;
  struct D {
    int64_t off;
    bool ok;
  };
  struct K {
    int64_t off;
    bool ok;
  };
  __device__ __forceinline__ D d_info(int d) const { return {int64_t(d) * sd, d < dim}; }
  __device__ __forceinline__ K k_info(int k, int kend) const { return {int64_t(k) * sk, k < kend}; }
  __device__ __forceinline__ float load(const D& d, const K& k) const {
    return (d.ok && k.ok) ? __ldg(p + d.off + k.off) : 0.0f;
  }
};

// ---- epilogue ---------------------------------------------------------------------------------
struct GemmOut {
  float* c;              // C(i, j) = c[z * split_stride + i * ldc + j]
  int64_t ldc;
  int64_t split_stride;  // per blockIdx.z (split-K slices); 0 without split
  const float* bias;     // bias[j] added (after the sum, as the CPU adds it after its GEMM); may be null
  bool accumulate;       // C += result instead of C = result
};

__device__ __forceinline__ float gemm_out_value(const GemmOut& o, float acc, int j) {
  return o.bias ? acc + __ldg(o.bias + j) : acc;
}

// ---- tensor-core helpers (sm_80+) -----------------------------------------------------------
__device__ __forceinline__ float round_tf32(float x) {
#if defined(CLSA_CUDA_EMU)
  return __uint_as_float(::emu::cvt_rna_tf32(x));
#elif __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return __uint_as_float(r);
#else
  return x;
#endif
}

// c0..c3 by reference (not an array view of the accumulator array, which could force it into
// local memory).
__device__ __forceinline__ void mma_tf32_16x8x8(float& c0, float& c1, float& c2, float& c3, const uint32_t (&a)[4],
                                                uint32_t b0, uint32_t b1) {
#if defined(CLSA_CUDA_EMU)
  ::emu::mma_m16n8k8_tf32(c0, c1, c2, c3, a, b0, b1);
#elif __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // the host never launches the TF32 kernels below sm_80
#endif
}

// ---- the kernel -------------------------------------------------------------------------------
// A_KC / B_KC: which loader mapping suits each source (see above).
template <int BM, bool TC, bool A_KC, bool B_KC, class SA, class SB>
__global__ void __launch_bounds__(kGemmThreads, 2)
    gemm_kernel(const SA sa, const SB sb, const GemmOut out, const int M, const int N, const int K, const int kchunk) {
  using T = GemmTile<BM, TC>;
  using LA = typename LoaderOf<A_KC, BM, T::LDA, SA>::type;
  using LB = typename LoaderOf<B_KC, T::BN, T::LDB, SB>::type;
  __shared__ __align__(16) float As[2][T::BK * T::LDA];
  __shared__ __align__(16) float Bs[2][T::BK * T::LDB];

  const int tid = threadIdx.x;
  const int m0 = int(blockIdx.y) * BM, n0 = int(blockIdx.x) * T::BN;
  // Split-K range; z * kchunk < K by construction of the grid (no empty split), so no overflow.
  const int kbeg = int(blockIdx.z) * kchunk;
  const int kend = int(min(int64_t(K), int64_t(kbeg) + kchunk));

  LA la;
  LB lb;
  la.init(sa, m0, tid);
  lb.init(sb, n0, tid);
  float ra[LA::V], rb[LB::V];

  // Accumulators: FP32 micro-tile or TF32 mma fragments (the same count per thread).
  constexpr int NACC = TC ? T::MB * T::NB * 4 : T::TM * T::TN;
  float acc[NACC];
#pragma unroll
  for (int i = 0; i < NACC; ++i) acc[i] = 0.0f;

  auto to_smem = [&](int buf) {
    if constexpr (TC) {
#pragma unroll
      for (int v = 0; v < LA::V; ++v) ra[v] = round_tf32(ra[v]);
#pragma unroll
      for (int v = 0; v < LB::V; ++v) rb[v] = round_tf32(rb[v]);
    }
    la.stash(ra, As[buf]);
    lb.stash(rb, Bs[buf]);
  };

  // Fetches past kend give zeros (k_info invalid), so a ragged last tile needs no special case
  // and an empty range (K == 0) computes zeros.
  la.fetch(sa, kbeg, kend, ra);
  lb.fetch(sb, kbeg, kend, rb);
  to_smem(0);
  __syncthreads();

  const int tx = tid % 16, ty = tid / 16;                      // FP32 thread grid
  const int lane = tid % 32, warp = tid / 32;                  // TF32 warp grid
  const int g = lane / 4, t4 = lane % 4;
  const int wm0 = (warp % 2) * T::WM, wn0 = (warp / 2) * T::WN;

  int buf = 0;
  for (int k0 = kbeg; k0 < kend; k0 += T::BK) {
    const bool more = k0 + T::BK < kend;
    // The next tile's global loads are issued before the math so their latency hides behind it.
    if (more) {
      la.fetch(sa, k0 + T::BK, kend, ra);
      lb.fetch(sb, k0 + T::BK, kend, rb);
    }
    const float* as = As[buf];
    const float* bs = Bs[buf];
    if constexpr (!TC) {
#pragma unroll
      for (int kk = 0; kk < T::BK; ++kk) {
        float a[T::TM], b[T::TN];
        {
          const float4 v = *reinterpret_cast<const float4*>(as + kk * T::LDA + ty * 4);
          a[0] = v.x, a[1] = v.y, a[2] = v.z, a[3] = v.w;
        }
#pragma unroll
        for (int c = 0; c < T::TN / 4; ++c) {
          const float4 v = *reinterpret_cast<const float4*>(bs + kk * T::LDB + c * 64 + tx * 4);
          b[c * 4 + 0] = v.x, b[c * 4 + 1] = v.y, b[c * 4 + 2] = v.z, b[c * 4 + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < T::TM; ++i)
#pragma unroll
          for (int j = 0; j < T::TN; ++j) acc[i * T::TN + j] = fmaf(a[i], b[j], acc[i * T::TN + j]);
      }
    } else {
      // One m16n8k8 step covers the whole BK = 8 tile. Fragment element (row, k) of A is
      // As[k][row], of B (k, col) is Bs[k][col] (PTX ISA m16n8k8 .tf32 layouts).
      uint32_t af[T::MB][4], bf[T::NB][2];
#pragma unroll
      for (int mb = 0; mb < T::MB; ++mb) {
        const int r = wm0 + mb * 16 + g;
        af[mb][0] = __float_as_uint(as[t4 * T::LDA + r]);
        af[mb][1] = __float_as_uint(as[t4 * T::LDA + r + 8]);
        af[mb][2] = __float_as_uint(as[(t4 + 4) * T::LDA + r]);
        af[mb][3] = __float_as_uint(as[(t4 + 4) * T::LDA + r + 8]);
      }
#pragma unroll
      for (int nb = 0; nb < T::NB; ++nb) {
        const int cidx = wn0 + nb * 8 + g;
        bf[nb][0] = __float_as_uint(bs[t4 * T::LDB + cidx]);
        bf[nb][1] = __float_as_uint(bs[(t4 + 4) * T::LDB + cidx]);
      }
#pragma unroll
      for (int mb = 0; mb < T::MB; ++mb)
#pragma unroll
        for (int nb = 0; nb < T::NB; ++nb) {
          float* c = &acc[(mb * T::NB + nb) * 4];
          mma_tf32_16x8x8(c[0], c[1], c[2], c[3], af[mb], bf[nb][0], bf[nb][1]);
        }
    }
    // Writing buffer buf^1 is safe without a barrier before it: its last readers computed in the
    // previous iteration, which every thread finished before passing the previous barrier. The
    // barrier below then (a) publishes buf^1 for the next iteration and (b) guarantees all reads
    // of buf are done before the next iteration overwrites it.
    if (more) to_smem(buf ^ 1);
    __syncthreads();
    buf ^= 1;
  }

  // ---- epilogue ----
  float* cz = out.c + int64_t(blockIdx.z) * out.split_stride;
  if constexpr (!TC) {
    const bool vec = (out.ldc % 4 == 0) && (reinterpret_cast<uintptr_t>(cz) % 16 == 0);
#pragma unroll
    for (int i = 0; i < T::TM; ++i) {
      const int row = m0 + ty * 4 + i;
      if (row >= M) continue;
      float* crow = cz + int64_t(row) * out.ldc;
#pragma unroll
      for (int c = 0; c < T::TN / 4; ++c) {
        const int col = n0 + c * 64 + tx * 4;
        const float* a4 = &acc[i * T::TN + c * 4];
        if (vec && col + 3 < N) {
          float4 v = make_float4(gemm_out_value(out, a4[0], col), gemm_out_value(out, a4[1], col + 1),
                                 gemm_out_value(out, a4[2], col + 2), gemm_out_value(out, a4[3], col + 3));
          float4* p = reinterpret_cast<float4*>(crow + col);
          if (out.accumulate) {
            const float4 o = *p;
            v.x += o.x, v.y += o.y, v.z += o.z, v.w += o.w;
          }
          *p = v;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            if (col + j >= N) break;
            const float v = gemm_out_value(out, a4[j], col + j);
            crow[col + j] = out.accumulate ? crow[col + j] + v : v;
          }
        }
      }
    }
  } else {
    // Accumulator c[e] of block (mb, nb) is element (row g + 8 * (e / 2), col 2 * t4 + e % 2).
#pragma unroll
    for (int mb = 0; mb < T::MB; ++mb)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + wm0 + mb * 16 + g + 8 * h;
        if (row >= M) continue;
        float* crow = cz + int64_t(row) * out.ldc;
#pragma unroll
        for (int nb = 0; nb < T::NB; ++nb) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int col = n0 + wn0 + nb * 8 + 2 * t4 + e;
            if (col >= N) continue;
            const float v = gemm_out_value(out, acc[(mb * T::NB + nb) * 4 + h * 2 + e], col);
            crow[col] = out.accumulate ? crow[col] + v : v;
          }
        }
      }
  }
}

// Launches C (+)= A B over an M x N output with `splits` K slices of kchunk (a multiple of BK;
// splits = ceil(K / kchunk), at least 1). tc: the TF32 tensor-core variant (caller checked sm_80+).
// The caller has checked M, N, K <= kGemmMaxDim and M, N > 0.
template <bool A_KC, bool B_KC, class SA, class SB>
cudaError_t gemm_launch(const SA& a, const SB& b, const GemmOut& out, int M, int N, int K, int splits, int kchunk,
                        bool tc, cudaStream_t stream) {
  const dim3 grid(unsigned((int64_t(N) + kGemmBN - 1) / kGemmBN), unsigned((int64_t(M) + kGemmBM - 1) / kGemmBM),
                  unsigned(splits));
  if (tc)
    gemm_kernel<kGemmBM, true, A_KC, B_KC, SA, SB><<<grid, kGemmThreads, 0, stream>>>(a, b, out, M, N, K, kchunk);
  else
    gemm_kernel<kGemmBM, false, A_KC, B_KC, SA, SB><<<grid, kGemmThreads, 0, stream>>>(a, b, out, M, N, K, kchunk);
  return cudaGetLastError();
}

// Grid limits of gemm_launch: blockIdx.y counts M tiles (<= 65535), z the splits.
inline bool gemm_grid_ok(int64_t M, int64_t splits) { return (M + kGemmBM - 1) / kGemmBM <= 65535 && splits <= 65535; }

// Whether the device current on this thread can run the TF32 kernels (compute capability 8.0+).
// Cached per device: cudaDeviceGetAttribute is cheap but not free, and nothing here may sync.
cudaError_t device_has_tf32_mma(bool* yes);
// Whether a GEMM at `precision` (a clsa_precision) takes the TF32 tensor-core path: TF32 on an
// sm_80+ device. FP32, and BF16/FP16 (not implemented by these layers), take the FP32 path.
bool gemm_use_tc(int32_t precision);

}  // namespace clsa::cuda::nn
