// CPU back end of the fused CLSA head (see DESIGN.md §2 and clsa.h).
#pragma once
#include <cstddef>
#include "clsa/clsa.h"

namespace clsa::cpu {

// The float64, logits-materialising checker.
clsa_status head_reference(const clsa_head_desc& d, const clsa_head_tensors& t);

// The fused single-pass kernel. `workspace` may be null (then it allocates).
size_t head_workspace_size(const clsa_head_desc& d);
clsa_status head_fused(const clsa_head_desc& d, const clsa_head_tensors& t, void* workspace, size_t bytes);

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
  int64_t splits;     // independent column ranges of X, merged at the end
  int64_t tiles;      // tiles of X in total
  int workers;        // pool threads
  size_t bytes;       // workspace bytes
};
HeadPlan plan_head(const clsa_head_desc& d);

// One instruction-set variant: processes the tiles [tile_begin, tile_end) of X for every slot.
struct HeadArgs;
using HeadTileFn = void (*)(const HeadArgs& a, int64_t split, int worker);
struct HeadKernels {
  const char* name;
  int vw, mr, nv;
  HeadTileFn run_split;
};
const HeadKernels& head_kernels();   // the best variant this CPU supports

// Everything a split needs; built once per call by head_fused.
struct HeadArgs {
  const clsa_head_desc* desc;
  const HeadPlan* plan;
  const float* q;        // [rows_pad, D] normalised queries (weak rows then strong rows)
  const float* keys;     // [N, D] normalised keys
  const float* queue;    // [K, D]
  float* state;          // [splits][slots][dpad + 2]: O (unnormalised), then m, l (log2 domain)
  float* own;            // [rows] own-key logit q_r . k_(r mod N), written by the tile holding it
  float* worker_buf;     // [workers][worker_floats]
  int64_t worker_floats;
  float scale1, scale2;  // log2(e)/tau, log2(e)/tau2
};

}  // namespace clsa::cpu
