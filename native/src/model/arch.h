// The encoder's architecture as data: every layer with its shape and its offsets in the flat
// parameter and running-statistics buffers (order documented in clsa/model.h).
#pragma once
#include <cstdint>
#include <vector>

#include "clsa/model.h"

namespace clsa::model {

struct ConvSpec {
  int64_t cin, cout, k, stride, pad;
  int64_t w;  // offset of the weight [cout][cin][k][k]
};

struct BnSpec {
  int64_t c;
  int64_t gamma, beta;  // parameter offsets
  int64_t mean, var;    // running-statistics offsets
};

struct LinearSpec {
  int64_t in, out;
  int64_t w, b;  // weight [out][in], bias [out]
};

struct BlockSpec {
  ConvSpec conv1, conv2;
  BnSpec bn1, bn2;
  bool down = false;  // projection shortcut (1x1 conv stride s + BN)
  ConvSpec conv_sc;
  BnSpec bn_sc;
};

struct Arch {
  int64_t in_channels;
  ConvSpec stem;
  BnSpec stem_bn;
  std::vector<BlockSpec> blocks;
  int64_t feature_dim;
  LinearSpec fc1, fc2;
  int64_t params = 0;  // floats per encoder
  int64_t stats = 0;   // floats of BN running statistics
};

// Builds the layer list for a validated config.
Arch build_arch(const clsa_model_config& c);
// Deterministic initialisation of params and stats (see clsa_model_create).
void init_params(const Arch& a, uint32_t seed, float* params, float* stats);

}  // namespace clsa::model
