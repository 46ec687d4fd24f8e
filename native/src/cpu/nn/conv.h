// 2-D convolution (no bias) on activations in CNHW layout: x[c][n][h][w], i.e. one row of
// N*H*W values per channel. With this layout the convolution of a chunk of images is one GEMM
// W[Cout, Cin*k*k] x col[Cin*k*k, pixels] whose result lands directly in y's rows, and batch
// norm / ReLU work on contiguous channel rows.
#pragma once
#include <cstdint>

namespace clsa::cpu::nn {

struct ConvShape {
  int64_t cin, cout, k, stride, pad;  // square kernel k x k
  int64_t n, h, w;                    // input batch and spatial size
  int64_t ho() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t wo() const { return (w + 2 * pad - k) / stride + 1; }
  int64_t kdim() const { return cin * k * k; }
};

// y[cout][n*ho*wo] = conv(x[cin][n*h*w], w[cout][cin*k*k]).
void conv_forward(const ConvShape& s, const float* x, const float* w, float* y);
// dw[cout][cin*k*k] += dW; dx (may be null: no input gradient) = dX, overwritten.
void conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw);

}  // namespace clsa::cpu::nn
