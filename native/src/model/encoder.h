// Forward and backward passes of the ResNet encoder + projection MLP over the flat buffers,
// on either back end (every array is in the Ops' memory). A Trace holds one pass's activations
// (CNHW) for the backward pass; it is reused between steps so its buffers are allocated once.
#pragma once
#include <cstdint>
#include <vector>

#include "arch.h"
#include "ops.h"

namespace clsa::model {

struct BlockTrace {
  int64_t h = 0, w = 0, ho = 0, wo = 0;
  Buf c1, a1, c2, cs, out;       // conv1 out, relu(bn1), conv2 out, shortcut conv out, block out
  Buf m1, i1, m2, i2, ms, is;    // BN means / inverse stds per (channel, group)
};

struct Trace {
  int64_t n = 0, h = 0, w = 0, groups = 1;
  Buf x, c0, a0, m0, i0;         // input (CNHW), stem conv out, relu(bn(stem))
  std::vector<BlockTrace> blocks;
  Buf feat;                      // [n][feature_dim]
  Buf h1;                        // relu(fc1) [n][hidden]
  Buf z;                         // [n][proj_dim]
  Buf tmp;                       // shortcut BN output
};

struct BnMode {
  bool train;          // batch statistics (split) vs running statistics
  int64_t groups;      // split-BN groups (train)
  float momentum, eps;
  bool update_running; // train: update the running statistics
};

// Runs the encoder on images [n][c][h][w] (NCHW floats, host or the Ops' memory). With `perm`
// (host memory), encoded row i is input image perm[i] of `image_rows` images (0: n; more when the
// rows are a slice of a permuted larger batch, as a rank's share of the gathered key views). With
// `project` the MLP runs too (t.z), else it stops at t.feat.
void encoder_forward(Ops& ops, const Arch& a, const float* params, float* stats, const float* images, int64_t n, int64_t h,
                     int64_t w, const int64_t* perm, const BnMode& mode, bool project, Trace& t, int64_t image_rows = 0);

// Gradient scratch shared by the backward passes of a step.
struct GradScratch {
  Buf cur, next, s, a, dx, dh, dfeat;
};

// grads (+=) from dz [n][proj_dim] through a train-mode trace.
void encoder_backward(Ops& ops, const Arch& a, const float* params, const Trace& t, const float* dz, float* grads,
                      GradScratch& g);

}  // namespace clsa::model
