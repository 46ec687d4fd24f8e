// Batch normalisation over CNHW activations with split statistics ("split-BN", the MoCo
// CIFAR demo's stand-in for shuffle-BN on one device): the batch is cut into `groups`
// contiguous groups of n/groups images, each normalised with its own mean and variance.
// n must be divisible by groups (the model checks this and says so).
#pragma once
#include <cstdint>

#include "../../nn/shapes.h"

namespace clsa::cpu::nn {

using clsa::nn::BnShape;

// Training mode. y = gamma * (x - mean_g) * invstd_g + beta, per channel and group.
// mean, invstd: [c * groups] out (saved for the backward pass). When running_mean/var are
// non-null they are updated as torch's SplitBatchNorm does: every group updates its own copy
// with `momentum` (unbiased variance) and the copies are averaged, i.e.
// r = (1 - momentum) r + momentum * mean_g(stat_g).
// With `relu` the output is max(y, 0) (the fused BN + ReLU of a conv block). With `moments`
// ([c][n][2]: each channel's and image's sum and sum of squares of x, as conv_forward gives them)
// the statistics come from those instead of two passes over x.
void bn_forward_train(const BnShape& s, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* invstd, float* running_mean, float* running_var, float momentum, bool relu = false,
                      const double* moments = nullptr);
// Evaluation mode: the running statistics, no split.
void bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta, const float* running_mean,
                     const float* running_var, float* y, bool relu = false);
// dx (overwritten), dgamma/dbeta (+=) from dy and the saved statistics. dx may alias dy.
// With `relu_out` (the fused ReLU's output) dy is first masked by relu_out > 0.
void bn_backward(const BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                 const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out = nullptr);

}  // namespace clsa::cpu::nn
