// Layer shapes shared by the CPU (cpu/nn) and CUDA (cuda/nn) layer kernels: both back ends take
// the same structs, so the encoder (model/encoder.cpp) describes a layer once.
// Activations are CNHW: x[c][n][h][w], one row of N*H*W values per channel.
#pragma once
#include <cstdint>

namespace clsa::nn {

struct ConvShape {
  int64_t cin, cout, k, stride, pad;  // square kernel k x k, no bias
  int64_t n, h, w;                    // input batch and spatial size
  int64_t ho() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t wo() const { return (w + 2 * pad - k) / stride + 1; }
  int64_t kdim() const { return cin * k * k; }
};

// Split batch norm: the batch is cut into `groups` contiguous groups of n/groups images, each
// normalised with its own statistics (split-BN, standing in for shuffle-BN on one device).
struct BnShape {
  int64_t c, n, hw;
  int64_t groups;  // >= 1, divides n
  float eps;       // 1e-5 as torch
};

}  // namespace clsa::nn
