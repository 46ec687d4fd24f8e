// The CUDA twins of the encoder's CPU layers (cpu/nn/*.h): same shapes, same CNHW layouts,
// same semantics (including which outputs are overwritten and which accumulate), on device
// pointers, enqueued on `stream` (a cudaStream_t; NULL = the legacy default stream).
//
// Host-callable declarations only (no CUDA types), so the generic encoder (model/*.cpp,
// compiled by the C++ compiler) can call them. Every function returns CLSA_OK or the error of
// its launch (CLSA_ERR_CUDA naming the CUDA error, via clsa::cuda::cuda_fail). Nothing here
// allocates: scratch is passed in, sized by the *_workspace_floats queries.
//
// Precision (clsa_precision): CLSA_PRECISION_FP32 is exact SIMT fp32 with fp32 accumulation (the
// CPU twin's numbers within rounding); CLSA_PRECISION_TF32 may use tensor cores with inputs
// rounded to tf32. Implementations that do not support a precision treat it as FP32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../../nn/shapes.h"
#include "clsa/clsa.h"

namespace clsa::cuda::nn {

using clsa::nn::BnShape;
using clsa::nn::ConvShape;

// ---- convolution (cpu/nn/conv.h) ---------------------------------------------------------------
// Scratch floats conv_forward / conv_backward need for shape s (0 when none).
size_t conv_workspace_floats(const ConvShape& s, int32_t precision);
// y[cout][n*ho*wo] = conv(x[cin][n*h*w], w[cout][cin*k*k]) (overwritten).
clsa_status conv_forward(const ConvShape& s, const float* x, const float* w, float* y, int32_t precision,
                         float* workspace, size_t workspace_floats, void* stream);
// dw[cout][cin*k*k] += dW; dx (may be null: no input gradient) = dX, overwritten.
clsa_status conv_backward(const ConvShape& s, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          int32_t precision, float* workspace, size_t workspace_floats, void* stream);

// ---- batch norm (cpu/nn/bn.h) ------------------------------------------------------------------
// Training mode with split statistics: mean/invstd [c * groups] out; running_mean/var updated
// when non-null exactly as the CPU (per-group unbiased variance, averaged over groups).
// Statistics are accumulated in double, like the CPU.
clsa_status bn_forward_train(const BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                             float* mean, float* invstd, float* running_mean, float* running_var, float momentum,
                             bool relu, void* stream);
clsa_status bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta,
                            const float* running_mean, const float* running_var, float* y, bool relu, void* stream);
// dx (overwritten; may alias dy), dgamma/dbeta (+=); with relu_out, dy is first masked by relu_out > 0.
clsa_status bn_backward(const BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                        const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out, void* stream);

// ---- element-wise, layout, pooling, linear (cpu/nn/layers.h) ------------------------------------
clsa_status relu_forward(const float* x, float* y, int64_t count, void* stream);
clsa_status relu_backward(const float* y, const float* dy, float* dx, int64_t count, void* stream);
clsa_status add_relu_forward(const float* a, const float* b, float* y, int64_t count, void* stream);
// y[i] += x[i].
clsa_status add_inplace(float* y, const float* x, int64_t count, void* stream);
// out[ch][i][hw] = in[perm ? perm[i] : i][ch][hw], i < n: NCHW images (`rows` of them, rows >= n)
// -> CNHW, optionally permuting the batch (perm: n int64 indices below rows, in device memory).
// A rank's key encoder takes its n rows of the permutation of all ranks' rows.
clsa_status gather_cnhw(const float* in, int64_t rows, int64_t n, int64_t c, int64_t hw, const int64_t* perm, float* out,
                        void* stream);
// dst[perm[i]][:] = src[i][:] for rows of d floats (perm in device memory): un-permutes the keys.
clsa_status scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst, void* stream);
// feat[n][c] = mean over hw of x[c][n][hw] (sum in double or a fixed-order fp32 tree).
clsa_status gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat, void* stream);
// dx[c][n][hw] = dfeat[n][c] / hw (overwritten).
clsa_status gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx, void* stream);
// y[n][out] = x[n][in] W[out][in]^T + b[out] (b may be null).
clsa_status linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b, float* y,
                           int32_t precision, void* stream);
// dW (+=) [out][in], db (+=) [out] (may be null), dx [n][in] (overwritten; may be null).
clsa_status linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy,
                            float* dx, float* dw, float* db, int32_t precision, void* stream);

// ---- optimiser ------------------------------------------------------------------------------
// torch.optim.SGD: d = g + wd p; buf = mu buf + d; p -= lr buf (same float operations as the CPU).
clsa_status sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd, void* stream);

}  // namespace clsa::cuda::nn
