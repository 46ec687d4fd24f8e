// The back end a model runs on: its memory and its layer kernels (cpu/nn on the CPU, cuda/nn on
// a GPU) behind one interface, so the encoder (encoder.cpp) and the training step (step.cpp)
// describe the network and the step once for both. Pointers passed to an Ops are in its memory.
//
// Failures throw OpsError whose status has already been recorded with fail() (the message names
// the layer and the CUDA error); the C API entry points (model.cpp) return that status. Calls
// are ordered; on CUDA they are enqueued on one stream and sync() waits for them.
#pragma once
#include <cstdint>
#include <vector>

#include "../nn/shapes.h"
#include "clsa/clsa.h"

namespace clsa::model {

struct OpsError {
  clsa_status status;
};

class Ops;

// A grow-only float buffer in one back end's memory. Growth does not keep the contents; the
// owner tracks the logical size. Move-only; frees through the Ops that allocated it, which
// must outlive it.
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  Buf(Buf&& o) noexcept : p_(o.p_), cap_(o.cap_), ops_(o.ops_) { o.p_ = nullptr, o.cap_ = 0; }
  Buf& operator=(Buf&& o) noexcept;
  ~Buf() { reset(); }
  float* data() const { return p_; }
  int64_t capacity() const { return cap_; }
  void reset() noexcept;

 private:
  friend class Ops;
  float* p_ = nullptr;
  int64_t cap_ = 0;
  Ops* ops_ = nullptr;
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual int32_t device() const = 0;  // clsa_device
  virtual int32_t device_index() const { return 0; }
  virtual int32_t precision() const { return CLSA_PRECISION_FP32; }
  // The precision the fused head runs at (the CPU's head computes in fp32 whatever the layers use).
  virtual int32_t head_precision() const { return precision(); }

  // At least `count` floats in b (grown in this back end's memory when smaller).
  float* sized(Buf& b, int64_t count);

  // Memory: within this back end, and across the host boundary (host pointers are plain).
  virtual void zero(float* p, int64_t count) = 0;
  virtual void copy(float* dst, const float* src, int64_t count) = 0;
  virtual void upload(float* dst, const float* host, int64_t count) = 0;
  virtual void download(float* host, const float* src, int64_t count) = 0;
  // `count` floats at p in this back end's memory: p itself when it is there already (any host
  // pointer on the CPU), else a copy uploaded into `staging` (a GPU's collectives take its memory).
  virtual const float* resident(const float* p, int64_t count, Buf& staging) { return p; }
  // Waits for every call made so far (CUDA) and surfaces asynchronous errors.
  virtual void sync() {}
  // Makes this back end current on the calling thread (CUDA: the model's GPU); every C API
  // entry point calls it first, since libuv workers run calls on changing threads.
  virtual void bind() {}

  // Layers: as cpu/nn/{conv,bn,layers}.h (same layouts and overwrite/accumulate rules).
  virtual void conv_forward(const nn::ConvShape& s, const float* x, const float* w, float* y) = 0;
  virtual void conv_backward(const nn::ConvShape& s, const float* x, const float* w, const float* dy, float* dx,
                             float* dw) = 0;
  virtual void bn_forward_train(const nn::BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                                float* mean, float* invstd, float* running_mean, float* running_var, float momentum,
                                bool relu) = 0;
  // conv_forward into `pre`, then bn_forward_train of it (fused ReLU with `relu`). A back end may
  // take the statistics while the convolution writes its output (the CPU does).
  virtual void conv_bn_forward_train(const nn::ConvShape& cs, const float* x, const float* w, float* pre,
                                     const nn::BnShape& bs, const float* gamma, const float* beta, float* y,
                                     float* mean, float* invstd, float* running_mean, float* running_var,
                                     float momentum, bool relu) {
    conv_forward(cs, x, w, pre);
    bn_forward_train(bs, pre, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, relu);
  }
  virtual void bn_forward_eval(const nn::BnShape& s, const float* x, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, float* y, bool relu) = 0;
  virtual void bn_backward(const nn::BnShape& s, const float* x, const float* gamma, const float* mean,
                           const float* invstd, const float* dy, float* dx, float* dgamma, float* dbeta,
                           const float* relu_out) = 0;
  virtual void relu_forward(const float* x, float* y, int64_t count) = 0;
  virtual void relu_backward(const float* y, const float* dy, float* dx, int64_t count) = 0;
  virtual void add_relu_forward(const float* a, const float* b, float* y, int64_t count) = 0;
  // y += x.
  virtual void add(float* y, const float* x, int64_t count) = 0;
  // y = (y + x) * (relu_out > 0): add, then relu_backward in place. A back end may fuse the two.
  virtual void add_relu_backward(float* y, const float* x, const float* relu_out, int64_t count) {
    add(y, x, count);
    relu_backward(relu_out, y, y, count);
  }
  virtual void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat) = 0;
  virtual void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx) = 0;
  virtual void linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b,
                              float* y) = 0;
  virtual void linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy,
                               float* dx, float* dw, float* db) = 0;

  // `rows` NCHW images (host memory, or this back end's) -> n CNHW activation rows, row i = image
  // perm[i] when perm (host memory, n indices below rows) is given, else image i (rows >= n).
  virtual void gather_images(const float* images, int64_t rows, int64_t n, int64_t c, int64_t hw, const int64_t* perm,
                             float* out) = 0;
  // dst[perm[i]] = src[i] for n rows of d floats (perm in host memory).
  virtual void scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst) = 0;
  // torch.optim.SGD with momentum and weight decay (see clsa/model.h).
  virtual void sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd) = 0;

 protected:
  friend class Buf;
  virtual float* alloc(int64_t count) = 0;  // throws OpsError (or std::bad_alloc) on failure
  virtual void release(float* p) noexcept = 0;
};

// Throws OpsError when s is not CLSA_OK (the message is already recorded).
inline void check(clsa_status s) {
  if (s != CLSA_OK) throw OpsError{s};
}

// The CPU back end (always there) and the CUDA one (nullptr plus a recorded error when the build
// has no CUDA or the device is unusable; the status is returned through *status). The CPU's
// precision is FP32, or BF16 for its convolution and linear GEMMs (the caller has checked
// cpu::nn::gemm_bf16_supported()).
Ops* make_cpu_ops(int32_t precision = CLSA_PRECISION_FP32);
Ops* make_cuda_ops(int32_t device_index, int32_t precision, clsa_status* status);

}  // namespace clsa::model
