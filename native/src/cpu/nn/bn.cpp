// Split batch norm: one pool task per channel; statistics accumulated in float64.
#include "bn.h"

#include <algorithm>
#include <cmath>

#include "../threadpool.h"

namespace clsa::cpu::nn {

void bn_forward_train(const BnShape& s, const float* x, const float* gamma, const float* beta, float* y, float* mean,
                      float* invstd, float* running_mean, float* running_var, float momentum, bool relu) {
  const int64_t per = s.n / s.groups * s.hw, plane = s.n * s.hw;
  parallel_for(s.c, [&](int64_t c, int) {
    double mean_acc = 0, var_acc = 0;
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* xs = x + c * plane + g * per;
      float* ys = y + c * plane + g * per;
      double sum = 0;
      for (int64_t i = 0; i < per; ++i) sum += xs[i];
      const double mu = sum / double(per);
      double ss = 0;
      for (int64_t i = 0; i < per; ++i) {
        const double d = xs[i] - mu;
        ss += d * d;
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
      const float* xs = x + c * plane + g * per;
      const float* dys = dy + c * plane + g * per;
      float* dxs = dx + c * plane + g * per;
      if (relu_out) {  // mask in place first (dx is this group's own slice, so this is safe)
        const float* ro = relu_out + c * plane + g * per;
        for (int64_t i = 0; i < per; ++i) dxs[i] = ro[i] > 0.0f ? dys[i] : 0.0f;
        dys = dxs;
      }
      const float mu = mean[c * s.groups + g], is = invstd[c * s.groups + g];
      double sdy = 0, sdyx = 0;
      for (int64_t i = 0; i < per; ++i) {
        sdy += dys[i];
        sdyx += double(dys[i]) * double((xs[i] - mu) * is);
      }
      dg += sdyx;
      db += sdy;
      // dx = gamma * is * (dy - mean(dy) - xhat * mean(dy * xhat))
      const float k = gamma[c] * is, m1 = float(sdy / double(per)), m2 = float(sdyx / double(per));
      for (int64_t i = 0; i < per; ++i) {
        const float xh = (xs[i] - mu) * is;
        dxs[i] = k * (dys[i] - m1 - xh * m2);
      }
    }
    dgamma[c] += float(dg);
    dbeta[c] += float(db);
  });
}

}  // namespace clsa::cpu::nn
