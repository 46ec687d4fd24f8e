// The small layers of the encoder: ReLU, residual add, global average pooling, linear,
// and the NCHW <-> CNHW layout change at the encoder's input.
#pragma once
#include <cstdint>

#include "gemm.h"

namespace clsa::cpu::nn {

// y = max(x, 0) (y may alias x).
void relu_forward(const float* x, float* y, int64_t count);
// dx = dy * (y > 0), from the ReLU's output y (dx may alias dy).
void relu_backward(const float* y, const float* dy, float* dx, int64_t count);
// The same on one thread (for callers already inside a pool task).
void relu_backward_serial(const float* y, const float* dy, float* dx, int64_t count);
// y = max(a + b, 0) (y may alias a or b): the end of a residual block.
void add_relu_forward(const float* a, const float* b, float* y, int64_t count);
// y += x.
void accumulate(float* y, const float* x, int64_t count);
// y = (y + x) * (relu_out > 0): a residual block's input gradient (its body's plus the skip's)
// through the previous block's output ReLU, in one pass.
void add_relu_backward(float* y, const float* x, const float* relu_out, int64_t count);

// NCHW [n][c][hw] -> CNHW [c][n][hw].
void nchw_to_cnhw(const float* in, int64_t n, int64_t c, int64_t hw, float* out);

// feat[n][c] = mean over hw of x[c][n][hw].
void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat);
// dx[c][n][hw] = dfeat[n][c] / hw (overwritten).
void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx);

// y[n][out] = x[n][in] W[out][in]^T + b[out]. bf16: the product's operands rounded to bf16
// (fp32 accumulation, the bias added in fp32); needs gemm_bf16_supported().
void linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b, float* y,
                    Precision prec = Precision::fp32);
// dW (+=) [out][in], db (+=) [out], dx [n][in] (overwritten; may be null). bf16: both products'
// operands rounded to bf16; db summed in fp32.
void linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy, float* dx,
                     float* dw, float* db, Precision prec = Precision::fp32);

}  // namespace clsa::cpu::nn
