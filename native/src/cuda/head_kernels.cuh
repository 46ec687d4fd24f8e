// Shared between the CUDA head's driver (head.cu) and its tile kernels (head_simt.cu,
// head_mma.cu): the arguments of one sweep over X = [keys; queue].
//
// Slots: the rows whose softmax state we track. Slots 0..M-1 are the query rows (weak crops
// then strong crops) at their own temperature; when tau != tau2 and S > 0, slots M..M+WN-1 are
// the weak rows again at tau2 (their S row is recomputed: simpler, costs WN extra rows).
#pragma once
#include <cstdint>

namespace clsa::cuda {

struct SweepArgs {
  const void* q;       // [M, ldq] normalised queries in the compute format (fp32 / bf16 / fp16)
  int64_t ldq;         // elements; ldq * element size is a multiple of 16 bytes
  const void* xk;      // keys part of X: [N, ldxk] (normalised, compute format)
  int64_t ldxk;
  const void* xq;      // queue part of X: [K, ldxq] (compute format)
  int64_t ldxq;
  int64_t validk;      // elements of a keys row that may be read (rest zero-filled): <= ldxk
  int64_t validq;      // same for a queue row
  int64_t n, c, d;     // N, N + K, D
  int64_t m, wn;       // query rows M = (W+S)N, weak rows W*N
  int64_t slots;       // M or M + WN
  float scale1, scale2;  // log2(e)/tau, log2(e)/tau2
  int64_t tiles;       // column tiles of X (of the kernel's tile width)
  int splits;          // blockIdx.y ranges over splits
  int64_t dpad;        // row stride of O states: D rounded up to 4
  float* state_o;      // [splits][slots][dpad]  unnormalised O
  float* state_ml;     // [splits][slots][2]     running max (log2 domain), sum
  float* own;          // [M] own-key logit q_r . k_(r mod N) from the tile holding that key
};

// Tile widths (columns of X per tile) of the two kernel families; the driver plans tiles with them.
constexpr int kSimtTileN = 32;
constexpr int kSimtRows = 64;
constexpr int kSimtSlice = 128;  // O columns held per thread block pass (D > 128: several passes)
constexpr int kMmaTileN = 64;
constexpr int kMmaRows = 64;
constexpr int kMmaD = 128;       // tensor-core path: D <= 128

// Precision tags of the tensor-core kernels.
enum class MmaKind : int { TF32 = 1, BF16 = 2, FP16 = 3 };

// Launchers (each checks its launch and returns the status).
clsa_status launch_sweep_simt(const SweepArgs& a, cudaStream_t stream);
clsa_status launch_sweep_mma(MmaKind kind, const SweepArgs& a, cudaStream_t stream);
size_t mma_smem_bytes(MmaKind kind);
// Resident blocks per SM of each sweep (occupancy API), for planning the splits.
int mma_blocks_per_sm(MmaKind kind);
int simt_blocks_per_sm(int64_t d);

}  // namespace clsa::cuda
