// CPU back end of the fused CLSA head (see docs/objective.md and clsa.h).
#pragma once
#include <cstddef>
#include "clsa/clsa.h"

namespace clsa::cpu {

// The float64, logits-materialising checker.
clsa_status head_reference(const clsa_head_desc& d, const clsa_head_tensors& t);

// The unfused comparison (materialised float32 logits, blocked SGEMMs); benchmark only.
clsa_status head_unfused(const clsa_head_desc& d, const clsa_head_tensors& t);

// The fused single-pass kernel. `workspace` may be null (then it allocates).
size_t head_workspace_size(const clsa_head_desc& d);
clsa_status head_fused(const clsa_head_desc& d, const clsa_head_tensors& t, void* workspace, size_t bytes);

// Columns of X per tile: a multiple of every variant's nv * vw (64, 24, 12). A compile-time
// constant so the micro-kernels address S and P with immediate offsets.
constexpr int64_t kHeadTile = 192;

// Tiling shared by every instruction-set variant of the kernel.
struct HeadPlan {
  int vw;        // floats per vector register of the chosen variant
  int mr;        // rows per micro-kernel
  int nv;        // vectors per micro-kernel row
  int64_t tile;  // columns of X per tile (multiple of nv*vw)
  int64_t rows;  // query rows M = (W+S)N
  int64_t rows_pad;   // M rounded up to mr
  int64_t slots;      // softmax states: M, plus W*N weak rows at tau2 when tau != tau2 and S > 0
  int64_t dpad;       // D rounded up to nv*vw (row stride of O states and packed X)
  int64_t splits;     // contiguous tile ranges, each with its partial softmax states, merged at the end
  int64_t tiles;      // tiles of X in total
  int workers;        // pool threads
  size_t bytes;       // workspace bytes
};
HeadPlan plan_head(const clsa_head_desc& d);

// One instruction-set variant: folds the tiles [tile_begin, tile_end) of X into the partial
// states number `split` (using that split's scratch) for every slot.
struct HeadArgs;
using HeadTileFn = void (*)(const HeadArgs& a, int64_t tile_begin, int64_t tile_end, int split);
struct HeadKernels {
  const char* name;
  int vw, mr, nv;
  HeadTileFn run_tiles;
};
const HeadKernels& head_kernels();   // the best variant this CPU supports

// Everything a split needs; built once per call by head_fused.
struct HeadArgs {
  const clsa_head_desc* desc;
  const HeadPlan* plan;
  const float* q;        // [rows_pad, D] normalised queries (weak rows then strong rows)
  const float* qpack;    // the same, packed by row groups: [rows_pad / mr][D][mr]
  const float* keys;     // [N, D] normalised keys
  const float* queue;    // [K, D]
  float* state;          // [splits][slots][dpad + 2]: O (unnormalised), then m, l (log2 domain)
  float* own;            // [rows] own-key logit q_r . k_(r mod N), written by the tile holding it
  float* worker_buf;     // [splits][worker_floats]
  int64_t worker_floats;
  float scale1, scale2;  // log2(e)/tau, log2(e)/tau2
};

}  // namespace clsa::cpu
