// The CPU back end of the model: host memory and the cpu/nn kernels; the Buf plumbing shared
// by both back ends.
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "../cpu/nn/bn.h"
#include "../cpu/nn/conv.h"
#include "../cpu/nn/layers.h"
#include "../cpu/threadpool.h"
#include "../internal.h"
#include "ops.h"

namespace clsa::model {

Buf& Buf::operator=(Buf&& o) noexcept {
  if (this != &o) {
    reset();
    p_ = o.p_;
    cap_ = o.cap_;
    ops_ = o.ops_;
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  return *this;
}

void Buf::reset() noexcept {
  if (p_) ops_->release(p_);
  p_ = nullptr;
  cap_ = 0;
}

float* Ops::sized(Buf& b, int64_t count) {
  if (b.p_ && b.cap_ >= count && b.ops_ == this) return b.p_;
  b.reset();
  b.p_ = alloc(count > 0 ? count : 1);
  b.cap_ = count;
  b.ops_ = this;
  return b.p_;
}

namespace {
namespace nn = clsa::cpu::nn;

class CpuOps final : public Ops {
 public:
  explicit CpuOps(int32_t precision)
      : precision_(precision), layers_(precision == CLSA_PRECISION_BF16 ? nn::Precision::bf16 : nn::Precision::fp32) {}
  int32_t device() const override { return CLSA_DEVICE_CPU; }
  int32_t precision() const override { return precision_; }
  int32_t head_precision() const override { return CLSA_PRECISION_FP32; }

  void zero(float* p, int64_t count) override { std::memset(p, 0, sizeof(float) * size_t(count)); }
  void copy(float* dst, const float* src, int64_t count) override {
    std::memcpy(dst, src, sizeof(float) * size_t(count));
  }
  void upload(float* dst, const float* host, int64_t count) override { copy(dst, host, count); }
  void download(float* host, const float* src, int64_t count) override { copy(host, src, count); }

  void conv_forward(const nn::ConvShape& s, const float* x, const float* w, float* y) override {
    nn::conv_forward(s, x, w, y, layers_);
  }
  void conv_backward(const nn::ConvShape& s, const float* x, const float* w, const float* dy, float* dx,
                     float* dw) override {
    nn::conv_backward(s, x, w, dy, dx, dw, layers_);
  }
  void bn_forward_train(const nn::BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* invstd, float* running_mean, float* running_var, float momentum,
                        bool relu) override {
    nn::bn_forward_train(s, x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, relu);
  }
  void conv_bn_forward_train(const nn::ConvShape& cs, const float* x, const float* w, float* pre,
                             const nn::BnShape& bs, const float* gamma, const float* beta, float* y, float* mean,
                             float* invstd, float* running_mean, float* running_var, float momentum,
                             bool relu) override {
    moments_.resize(size_t(cs.cout * cs.n * 2));
    nn::conv_forward(cs, x, w, pre, layers_, moments_.data());
    nn::bn_forward_train(bs, pre, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, relu,
                         moments_.data());
  }
  void bn_forward_eval(const nn::BnShape& s, const float* x, const float* gamma, const float* beta,
                       const float* running_mean, const float* running_var, float* y, bool relu) override {
    nn::bn_forward_eval(s, x, gamma, beta, running_mean, running_var, y, relu);
  }
  void bn_backward(const nn::BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                   const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out) override {
    nn::bn_backward(s, x, gamma, mean, invstd, dy, dx, dgamma, dbeta, relu_out);
  }
  void relu_forward(const float* x, float* y, int64_t count) override { nn::relu_forward(x, y, count); }
  void relu_backward(const float* y, const float* dy, float* dx, int64_t count) override {
    nn::relu_backward(y, dy, dx, count);
  }
  void add_relu_forward(const float* a, const float* b, float* y, int64_t count) override {
    nn::add_relu_forward(a, b, y, count);
  }
  void add(float* y, const float* x, int64_t count) override { nn::accumulate(y, x, count); }
  void add_relu_backward(float* y, const float* x, const float* relu_out, int64_t count) override {
    nn::add_relu_backward(y, x, relu_out, count);
  }
  void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat) override {
    nn::gap_forward(x, c, n, hw, feat);
  }
  void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx) override {
    nn::gap_backward(dfeat, c, n, hw, dx);
  }
  void linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b,
                      float* y) override {
    nn::linear_forward(x, n, in, out, w, b, y, layers_);
  }
  void linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy, float* dx,
                       float* dw, float* db) override {
    nn::linear_backward(x, n, in, out, w, dy, dx, dw, db, layers_);
  }

  void gather_images(const float* images, int64_t, int64_t n, int64_t c, int64_t hw, const int64_t* perm,
                     float* out) override {
    if (!perm) return nn::nchw_to_cnhw(images, n, c, hw, out);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(out + (ch * n + i) * hw, images + (perm[i] * c + ch) * hw, sizeof(float) * size_t(hw));
  }
  void scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst) override {
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + perm[i] * d, src + i * d, sizeof(float) * size_t(d));
  }
  // torch.optim.SGD: d = g + wd p; buf = mu buf + d; p -= lr buf (buf starts at 0, so the first
  // step's buf = d, as torch's clone).
  void sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd) override {
    constexpr int64_t kChunk = int64_t(1) << 15;
    cpu::parallel_for((count + kChunk - 1) / kChunk, [&](int64_t t, int) {
      const int64_t lo = t * kChunk, hi = std::min(count, lo + kChunk);
      for (int64_t i = lo; i < hi; ++i) {
        const float d = g[i] + wd * p[i];
        buf[i] = mu * buf[i] + d;
        p[i] -= lr * buf[i];
      }
    });
  }

 protected:
  float* alloc(int64_t count) override { return new float[size_t(count)]; }
  void release(float* p) noexcept override { delete[] p; }

 private:
  int32_t precision_;
  nn::Precision layers_;  // of the convolution and linear GEMMs (BN, head and SGD are fp32)
  std::vector<double> moments_;  // conv_bn_forward_train's per-image statistics
};

}  // namespace

Ops* make_cpu_ops(int32_t precision) { return new CpuOps(precision); }

#ifndef CLSA_WITH_CUDA
Ops* make_cuda_ops(int32_t, int32_t, clsa_status* status) {
  *status = fail(CLSA_ERR_NOT_COMPILED,
                 "config->device: CUDA was requested but this build has no CUDA back end (nvcc was not found at build time)");
  return nullptr;
}
#endif

}  // namespace clsa::model
