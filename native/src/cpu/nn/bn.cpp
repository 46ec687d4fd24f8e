// Split batch norm: one pool task per channel; statistics accumulated in float64.
#include "bn.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../threadpool.h"

namespace clsa::cpu::nn {
namespace {

// The float64 sums below run in 8 independent lanes, combined in a fixed order: one serial
// float64 chain was latency-bound (~4 cycles per element) and made batch norm ~15% of a step.
// The order depends only on the length, so results stay deterministic.
// (GCC vector types, internal and always inlined: their ABI, which -Wpsabi warns about, never matters.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double d8 __attribute__((vector_size(64)));
typedef float f8 __attribute__((vector_size(32)));

inline f8 load8(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline double hsum(d8 a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

// sum of x
double sum(const float* x, int64_t n) {
  d8 acc = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc += __builtin_convertvector(load8(x + i), d8);
  double s = hsum(acc);
  for (; i < n; ++i) s += x[i];
  return s;
}

// sum of (x - mu)^2, the difference taken in float64
double sum_sq_dev(const float* x, int64_t n, double mu) {
  d8 acc = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const d8 d = __builtin_convertvector(load8(x + i), d8) - mu;
    acc += d * d;
  }
  double s = hsum(acc);
  for (; i < n; ++i) {
    const double d = x[i] - mu;
    s += d * d;
  }
  return s;
}

// dY as the backward pass reads it: as given, or masked by the fused ReLU's output (relu_out > 0),
// so the mask costs no pass of its own (the select keeps the values, and so the sums, bit for bit).
struct PlainGrad {
  const float* dy;
  f8 at8(int64_t i) const { return load8(dy + i); }
  float at(int64_t i) const { return dy[i]; }
};
struct MaskedGrad {
  const float* dy;
  const float* out;
  f8 at8(int64_t i) const { return load8(out + i) > 0.0f ? load8(dy + i) : f8{}; }
  float at(int64_t i) const { return out[i] > 0.0f ? dy[i] : 0.0f; }
};

// sum of dy and of dy * xhat, xhat = (x - mu) * is in float
template <class G>
void sum_dy_dyx(const float* x, G dy, int64_t n, float mu, float is, double& sdy, double& sdyx) {
  d8 a = {}, b = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const d8 g = __builtin_convertvector(dy.at8(i), d8);
    a += g;
    b += g * __builtin_convertvector((load8(x + i) - mu) * is, d8);
  }
  double s1 = hsum(a), s2 = hsum(b);
  for (; i < n; ++i) {
    s1 += dy.at(i);
    s2 += double(dy.at(i)) * double((x[i] - mu) * is);
  }
  sdy = s1;
  sdyx = s2;
}

// One group of one channel: dx = gamma * is * (dy - mean(dy) - xhat * mean(dy * xhat)); adds the
// group's sums of dy * xhat and dy to dg and db.
template <class G>
void backward_group(const float* x, G dy, int64_t per, float gamma, float mu, float is, float* dx, double& dg,
                    double& db) {
  double sdy, sdyx;
  sum_dy_dyx(x, dy, per, mu, is, sdy, sdyx);
  dg += sdyx;
  db += sdy;
  const float k = gamma * is, m1 = float(sdy / double(per)), m2 = float(sdyx / double(per));
  // Eight at a time, as the ReLU mask must be: a scalar select compiles to a branch per element,
  // mispredicted on about half of them (3x slower than the pass it replaced). Same float
  // operations per element either way.
  int64_t i = 0;
  for (; i + 8 <= per; i += 8) {
    const f8 xh = (load8(x + i) - mu) * is;
    const f8 v = k * (dy.at8(i) - m1 - xh * m2);
    std::memcpy(dx + i, &v, sizeof v);
  }
  for (; i < per; ++i) {
    const float xh = (x[i] - mu) * is;
    dx[i] = k * (dy.at(i) - m1 - xh * m2);
  }
}

}  // namespace

void bn_forward_train(const BnShape& s, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* invstd, float* running_mean, float* running_var, float momentum, bool relu,
                      const double* moments) {
  const int64_t per = s.n / s.groups * s.hw, plane = s.n * s.hw, images = s.n / s.groups;
  parallel_for(s.c, [&](int64_t c, int) {
    double mean_acc = 0, var_acc = 0;
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* xs = x + c * plane + g * per;
      float* ys = y + c * plane + g * per;
      double mu, ss;  // mean, and sum of squared deviations from it
      if (moments) {
        // From the images' sums and sums of squares, in image order. Their difference loses
        // about mean^2 / variance times float64's precision: far below what the fp32 result keeps.
        double s1 = 0, s2 = 0;
        for (int64_t i = g * images; i < (g + 1) * images; ++i) {
          s1 += moments[(c * s.n + i) * 2];
          s2 += moments[(c * s.n + i) * 2 + 1];
        }
        mu = s1 / double(per);
        ss = std::max(0.0, s2 - s1 * mu);
      } else {
        mu = sum(xs, per) / double(per);
        ss = sum_sq_dev(xs, per, mu);
      }
      const double var = ss / double(per);
      const float is = float(1.0 / std::sqrt(var + s.eps));
      mean[c * s.groups + g] = float(mu);
      invstd[c * s.groups + g] = is;
      const float a = gamma[c] * is, b = beta[c] - float(mu) * a;
      if (relu)
        for (int64_t i = 0; i < per; ++i) ys[i] = std::max(xs[i] * a + b, 0.0f);
      else
        for (int64_t i = 0; i < per; ++i) ys[i] = xs[i] * a + b;
      mean_acc += mu;
      var_acc += per > 1 ? ss / double(per - 1) : var;
    }
    if (running_mean) {
      running_mean[c] = float((1.0 - momentum) * running_mean[c] + momentum * mean_acc / double(s.groups));
      running_var[c] = float((1.0 - momentum) * running_var[c] + momentum * var_acc / double(s.groups));
    }
  });
}

void bn_forward_eval(const BnShape& s, const float* x, const float* gamma, const float* beta, const float* running_mean,
                     const float* running_var, float* y, bool relu) {
  const int64_t plane = s.n * s.hw;
  parallel_for(s.c, [&](int64_t c, int) {
    const float a = float(gamma[c] / std::sqrt(double(running_var[c]) + s.eps));
    const float b = beta[c] - running_mean[c] * a;
    const float* xs = x + c * plane;
    float* ys = y + c * plane;
    if (relu)
      for (int64_t i = 0; i < plane; ++i) ys[i] = std::max(xs[i] * a + b, 0.0f);
    else
      for (int64_t i = 0; i < plane; ++i) ys[i] = xs[i] * a + b;
  });
}

void bn_backward(const BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                 const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out) {
  const int64_t per = s.n / s.groups * s.hw, plane = s.n * s.hw;
  parallel_for(s.c, [&](int64_t c, int) {
    double dg = 0, db = 0;
    for (int64_t g = 0; g < s.groups; ++g) {
      const int64_t at = c * plane + g * per;
      const float mu = mean[c * s.groups + g], is = invstd[c * s.groups + g];
      // (dx may alias dy: each element is read before it is written, within this task's slice)
      if (relu_out)
        backward_group(x + at, MaskedGrad{dy + at, relu_out + at}, per, gamma[c], mu, is, dx + at, dg, db);
      else
        backward_group(x + at, PlainGrad{dy + at}, per, gamma[c], mu, is, dx + at, dg, db);
    }
    dgamma[c] += float(dg);
    dbeta[c] += float(db);
  });
}

}  // namespace clsa::cpu::nn
