// 2-D convolution (no bias) on activations in CNHW layout: x[c][n][h][w], i.e. one row of
// N*H*W values per channel. With this layout the convolution of a chunk of images is one GEMM
// W[Cout, Cin*k*k] x col[Cin*k*k, pixels] whose result lands directly in y's rows, and batch
// norm / ReLU work on contiguous channel rows.
#pragma once
#include <cstdint>

#include "../../nn/shapes.h"
#include "gemm.h"

namespace clsa::cpu::nn {

using clsa::nn::ConvShape;

// y[cout][n*ho*wo] = conv(x[cin][n*h*w], w[cout][cin*k*k]). Precision::bf16 (needs
// gemm_bf16_supported()) rounds x and w to bf16 for the products, accumulating in fp32.
// With `moments` ([cout][n][2] doubles), each output channel's and image's sum and sum of squares
// of y, taken while y is written (bn_forward_train's statistics without two more passes over y).
void conv_forward(const ConvShape& s, const float* x, const float* w, float* y, Precision prec = Precision::fp32,
                  double* moments = nullptr);
// dw[cout][cin*k*k] += dW; dx (may be null: no input gradient) = dX, overwritten. bf16: the
// operands of both products (x, w, dy) rounded to bf16, fp32 accumulation; dW is then summed over
// a partition of the batch that does not depend on the thread count (fp32: one per thread count).
void conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                   Precision prec = Precision::fp32);

}  // namespace clsa::cpu::nn
