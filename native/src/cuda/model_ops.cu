// The CUDA back end of the model (model/ops.h): device memory and the cuda/nn kernels, all on the
// legacy default stream of one GPU, so the fused head, EMA and enqueue of the C API (called on
// the same stream) are ordered with the layers without extra synchronisation.
#include <cstdio>
#include <cstring>

#include "../model/ops.h"
#include "common.cuh"
#include "cuda_api.h"
#include "nn/nn.h"

namespace clsa::model {
namespace {
namespace cnn = clsa::cuda::nn;

class CudaOps final : public Ops {
 public:
  CudaOps(int32_t index, int32_t precision) : index_(index), precision_(precision) {}
  ~CudaOps() override {
    ws_.reset();
    staging_.reset();
    if (perm_) {
      cuda::use_device(index_);
      cudaFree(perm_);
    }
  }

  int32_t device() const override { return CLSA_DEVICE_CUDA; }
  int32_t device_index() const override { return index_; }
  int32_t precision() const override { return precision_; }

  void zero(float* p, int64_t count) override {
    check(cuda::device_fill(index_, p, count, 0.0f, nullptr));
  }
  // Stream-ordered, no wait: device copies, and uploads from pageable host memory, which the
  // runtime stages before returning (the host buffer may be reused at once).
  void copy(float* dst, const float* src, int64_t count) override {
    memcpy_async(dst, src, bytes(count), cudaMemcpyDeviceToDevice);
  }
  void upload(float* dst, const float* host, int64_t count) override {
    memcpy_async(dst, host, bytes(count), cudaMemcpyHostToDevice);
  }
  void download(float* host, const float* src, int64_t count) override {
    check(cuda::device_copy(index_, host, src, bytes(count), CLSA_COPY_DEVICE_TO_HOST, nullptr));
  }
  const float* resident(const float* p, int64_t count, Buf& staging) override {
    if (on_device(p)) return p;
    float* s = sized(staging, count);
    upload(s, p, count);
    return s;
  }
  void sync() override { check(cuda::synchronize(index_, nullptr)); }
  void bind() override { check(cuda::use_device(index_)); }

  void conv_forward(const nn::ConvShape& s, const float* x, const float* w, float* y) override {
    float* ws = workspace(cnn::conv_workspace_floats(s, precision_));
    check(cnn::conv_forward(s, x, w, y, layer_precision(), ws, ws_floats_, nullptr));
  }
  void conv_backward(const nn::ConvShape& s, const float* x, const float* w, const float* dy, float* dx,
                     float* dw) override {
    float* ws = workspace(cnn::conv_workspace_floats(s, precision_));
    check(cnn::conv_backward(s, x, w, dy, dx, dw, layer_precision(), ws, ws_floats_, nullptr));
  }
  void bn_forward_train(const nn::BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* invstd, float* running_mean, float* running_var, float momentum,
                        bool relu) override {
    check(cnn::bn_forward_train(s, x, gamma, beta, y, mean, invstd, running_mean, running_var, momentum, relu, nullptr));
  }
  void bn_forward_eval(const nn::BnShape& s, const float* x, const float* gamma, const float* beta,
                       const float* running_mean, const float* running_var, float* y, bool relu) override {
    check(cnn::bn_forward_eval(s, x, gamma, beta, running_mean, running_var, y, relu, nullptr));
  }
  void bn_backward(const nn::BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                   const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out) override {
    check(cnn::bn_backward(s, x, gamma, mean, invstd, dy, dx, dgamma, dbeta, relu_out, nullptr));
  }
  void relu_forward(const float* x, float* y, int64_t count) override {
    check(cnn::relu_forward(x, y, count, nullptr));
  }
  void relu_backward(const float* y, const float* dy, float* dx, int64_t count) override {
    check(cnn::relu_backward(y, dy, dx, count, nullptr));
  }
  void add_relu_forward(const float* a, const float* b, float* y, int64_t count) override {
    check(cnn::add_relu_forward(a, b, y, count, nullptr));
  }
  void add(float* y, const float* x, int64_t count) override { check(cnn::add_inplace(y, x, count, nullptr)); }
  void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat) override {
    check(cnn::gap_forward(x, c, n, hw, feat, nullptr));
  }
  void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx) override {
    check(cnn::gap_backward(dfeat, c, n, hw, dx, nullptr));
  }
  void linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b,
                      float* y) override {
    check(cnn::linear_forward(x, n, in, out, w, b, y, layer_precision(), nullptr));
  }
  void linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy, float* dx,
                       float* dw, float* db) override {
    check(cnn::linear_backward(x, n, in, out, w, dy, dx, dw, db, layer_precision(), nullptr));
  }

  void gather_images(const float* images, int64_t rows, int64_t n, int64_t c, int64_t hw, const int64_t* perm,
                     float* out) override {
    const int64_t count = rows * c * hw;
    if (!on_device(images)) {  // host images: one upload into a staging buffer
      float* st = sized(staging_, count);
      upload(st, images, count);
      images = st;
    }
    check(cnn::gather_cnhw(images, rows, n, c, hw, perm ? device_perm(perm, n) : nullptr, out, nullptr));
  }
  void scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst) override {
    check(cnn::scatter_rows(src, n, d, device_perm(perm, n), dst, nullptr));
  }
  void sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd) override {
    check(cnn::sgd(p, g, buf, count, lr, mu, wd, nullptr));
  }

 protected:
  float* alloc(int64_t count) override {
    void* p = nullptr;
    check(cuda::device_alloc(index_, bytes(count), &p));
    return static_cast<float*>(p);
  }
  void release(float* p) noexcept override {
    if (cuda::use_device(index_) == CLSA_OK) cudaFree(p);
  }

 private:
  static size_t bytes(int64_t count) { return sizeof(float) * size_t(count); }
  void memcpy_async(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
    if (n == 0) return;
    check(cuda::use_device(index_));
    const cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr);
    if (e != cudaSuccess) throw OpsError{cuda::cuda_fail(e, "model: cudaMemcpyAsync")};
  }
  // The layers' GEMMs have fp32 and tf32 paths; bf16/fp16 apply to the fused head only.
  int32_t layer_precision() const { return precision_ == CLSA_PRECISION_TF32 ? precision_ : CLSA_PRECISION_FP32; }

  bool on_device(const float* p) const {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) {
      if (a.device != index_)
        throw OpsError{fail(CLSA_ERR_INVALID_ARGUMENT,
                            "images.data: expected host memory or memory of GPU %d (the model's) but got GPU %d",
                            index_, a.device)};
      return true;
    }
    return false;
  }
  float* workspace(size_t floats) {
    if (floats == 0) return nullptr;
    float* p = sized(ws_, int64_t(floats));
    ws_floats_ = size_t(ws_.capacity());
    return p;
  }
  // perm (host) copied into a grow-only device array. The copy is stream-ordered after the
  // previous user of the array, so reusing it needs no synchronisation.
  const int64_t* device_perm(const int64_t* perm, int64_t n) {
    if (n > perm_cap_) {
      if (perm_) cudaFree(perm_);
      perm_ = nullptr;
      perm_cap_ = 0;
      void* p = nullptr;
      check(cuda::device_alloc(index_, sizeof(int64_t) * size_t(n), &p));
      perm_ = static_cast<int64_t*>(p);
      perm_cap_ = n;
    }
    memcpy_async(perm_, perm, sizeof(int64_t) * size_t(n), cudaMemcpyHostToDevice);
    return perm_;
  }

  int32_t index_, precision_;
  Buf ws_, staging_;
  size_t ws_floats_ = 0;
  int64_t* perm_ = nullptr;
  int64_t perm_cap_ = 0;
};

}  // namespace

Ops* make_cuda_ops(int32_t device_index, int32_t precision, clsa_status* status) {
  *status = cuda::check_device(device_index);
  if (*status != CLSA_OK) {
    char why[512];
    std::snprintf(why, sizeof why, "%s", clsa_last_error());
    *status = fail(*status, "config->device: CUDA was requested but %s", why);
    return nullptr;
  }
  return new CudaOps(device_index, precision);
}

}  // namespace clsa::model
