// Element-wise layers, pooling and the linear layer (the latter on the shared GEMM core).
#include "layers.h"

#include <algorithm>
#include <cstring>

#include "../threadpool.h"
#include "gemm.h"

namespace clsa::cpu::nn {
namespace {

// Element-wise loops in pool-sized slabs of contiguous memory.
template <class F>
void for_slabs(int64_t count, F&& f) {
  constexpr int64_t kSlab = int64_t(1) << 15;
  const int64_t tasks = (count + kSlab - 1) / kSlab;
  parallel_for(tasks, [&](int64_t t, int) { f(t * kSlab, std::min(count, (t + 1) * kSlab)); });
}

void accumulate_slab(float* y, const float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] += x[i];
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t count) {
  for_slabs(count, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  });
}

void relu_backward_serial(const float* y, const float* dy, float* dx, int64_t count) {
  // Eight at a time through a vector select: the scalar form compiled to a branch per element
  // (its aliasing with dx blocks the auto-vectoriser), mispredicted on about half of them.
  typedef float f8 __attribute__((vector_size(32)));
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    f8 yv, g;
    std::memcpy(&yv, y + i, sizeof yv);
    std::memcpy(&g, dy + i, sizeof g);
    const f8 v = yv > 0.0f ? g : f8{};
    std::memcpy(dx + i, &v, sizeof v);
  }
  for (; i < count; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t count) {
  for_slabs(count, [&](int64_t lo, int64_t hi) { relu_backward_serial(y + lo, dy + lo, dx + lo, hi - lo); });
}

void add_relu_forward(const float* a, const float* b, float* y, int64_t count) {
  for_slabs(count, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float v = a[i] + b[i];
      y[i] = v > 0.0f ? v : 0.0f;
    }
  });
}

void accumulate(float* y, const float* x, int64_t count) {
  for_slabs(count, [&](int64_t lo, int64_t hi) { accumulate_slab(y + lo, x + lo, hi - lo); });
}

void add_relu_backward(float* y, const float* x, const float* relu_out, int64_t count) {
  // One pass through registers, eight at a time (the mask as a vector select, see above).
  typedef float f8 __attribute__((vector_size(32)));
  for_slabs(count, [&](int64_t lo, int64_t hi) {
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8) {
      f8 yv, xv, ro;
      std::memcpy(&yv, y + i, sizeof yv);
      std::memcpy(&xv, x + i, sizeof xv);
      std::memcpy(&ro, relu_out + i, sizeof ro);
      const f8 v = ro > 0.0f ? yv + xv : f8{};
      std::memcpy(y + i, &v, sizeof v);
    }
    for (; i < hi; ++i) y[i] = relu_out[i] > 0.0f ? y[i] + x[i] : 0.0f;
  });
}

void nchw_to_cnhw(const float* in, int64_t n, int64_t c, int64_t hw, float* out) {
  parallel_for(c, [&](int64_t ch, int) {
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(out + (ch * n + i) * hw, in + (i * c + ch) * hw, sizeof(float) * size_t(hw));
  });
}

void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat) {
  parallel_for(c, [&](int64_t ch, int) {
    for (int64_t i = 0; i < n; ++i) {
      const float* p = x + (ch * n + i) * hw;
      double s = 0;
      for (int64_t j = 0; j < hw; ++j) s += p[j];
      feat[i * c + ch] = float(s / double(hw));
    }
  });
}

void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx) {
  const float inv = 1.0f / float(hw);
  parallel_for(c, [&](int64_t ch, int) {
    for (int64_t i = 0; i < n; ++i) {
      float* p = dx + (ch * n + i) * hw;
      const float v = dfeat[i * c + ch] * inv;
      for (int64_t j = 0; j < hw; ++j) p[j] = v;
    }
  });
}

void linear_forward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* b, float* y,
                    Precision prec) {
  // y = x W^T: B(p, j) = W[j][p]
  GemmArgs g{n, out, in, x, in, 1, w, 1, in, y, out, false};
  g.precision = prec;
  gemm_parallel(g);
  if (b)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) y[i * out + j] += b[j];
}

void linear_backward(const float* x, int64_t n, int64_t in, int64_t out, const float* w, const float* dy, float* dx,
                     float* dw, float* db, Precision prec) {
  // dW += dy^T x : A(i=o, p=r) = dy[r][o]
  GemmArgs gw{out, in, n, dy, 1, out, x, in, 1, dw, in, true};
  gw.precision = prec;
  gemm_parallel(gw);
  if (db)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < out; ++j) db[j] += dy[r * out + j];
  // dx = dy W
  if (dx) {
    GemmArgs gx{n, in, out, dy, out, 1, w, in, 1, dx, in, false};
    gx.precision = prec;
    gemm_parallel(gx);
  }
}

}  // namespace clsa::cpu::nn
