// The linear probe on the CPU: multinomial logistic regression trained with mini-batch AdamW.
//
// Every step is two pool passes whose partition does not depend on the thread count: rows ->
// logits/softmax (each row independent), then feature blocks -> gradient (each block sums over
// the batch rows in order). Results are therefore bit-identical for any number of threads.
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "../internal.h"
#include "knn.h"
#include "threadpool.h"

namespace clsa::cpu {

clsa_status probe_train(const clsa_probe_desc& p, const float* x, const int32_t* labels, const int32_t* order,
                        float* weight, float* bias, float* epoch_loss) {
  const int64_t n = p.n, d = p.d, C = p.classes, B = std::min<int64_t>(p.batch, n);
  std::vector<double> g;            // [B, C]: softmax - onehot of the batch rows
  std::vector<double> row_loss;     // [B]
  std::vector<float> mw, vw, mb, vb, gw, gb;
  try {
    g.resize(size_t(B * C));
    row_loss.resize(size_t(B));
    mw.assign(size_t(C * d), 0.0f);
    vw.assign(size_t(C * d), 0.0f);
    gw.assign(size_t(C * d), 0.0f);
    mb.assign(size_t(C), 0.0f);
    vb.assign(size_t(C), 0.0f);
    gb.assign(size_t(C), 0.0f);
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "probe: could not allocate the optimiser state (%lld x %lld)", (long long)C,
                (long long)d);
  }
  const double b1 = p.beta1, b2 = p.beta2;
  int64_t step = 0;
  constexpr int64_t kFeat = 64;  // features per gradient task
  for (int32_t e = 0; e < p.epochs; ++e) {
    const int32_t* ord = order + int64_t(e) * n;
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b0 = 0; b0 < n; b0 += B) {
      if (cancel_requested(p.cancel)) return fail(CLSA_ERR_CANCELLED, "probe: cancelled at epoch %d", e);
      const int64_t rows = std::min(B, n - b0);
      // Forward: logits in double (C is small), softmax, per-row loss.
      parallel_for((rows + 15) / 16, [&](int64_t t, int) {
        const int64_t i1 = std::min(rows, (t + 1) * 16);
        std::vector<double> z(static_cast<size_t>(C));
        for (int64_t i = t * 16; i < i1; ++i) {
          const float* xi = x + int64_t(ord[b0 + i]) * d;
          double mx = -INFINITY;
          for (int64_t c = 0; c < C; ++c) {
            const float* wc = weight + c * d;
            float acc = 0.0f;
            for (int64_t f = 0; f < d; ++f) acc += wc[f] * xi[f];
            z[c] = double(acc) + bias[c];
            mx = std::max(mx, z[c]);
          }
          double s = 0;
          for (int64_t c = 0; c < C; ++c) s += std::exp(z[c] - mx);
          const double lse = mx + std::log(s);
          const int32_t y = labels[ord[b0 + i]];
          row_loss[i] = lse - z[y];
          for (int64_t c = 0; c < C; ++c) g[i * C + c] = std::exp(z[c] - lse) - (c == y ? 1.0 : 0.0);
        }
      });
      double bl = 0;
      for (int64_t i = 0; i < rows; ++i) bl += row_loss[i];
      loss_sum += bl / double(rows);
      ++batches;
      // Gradient of the mean loss.
      const double inv = 1.0 / double(rows);
      parallel_for((d + kFeat - 1) / kFeat, [&](int64_t t, int) {
        const int64_t f0 = t * kFeat, f1 = std::min(d, f0 + kFeat);
        std::vector<double> acc(size_t((f1 - f0) * C), 0.0);
        for (int64_t i = 0; i < rows; ++i) {
          const float* xi = x + int64_t(ord[b0 + i]) * d;
          for (int64_t c = 0; c < C; ++c) {
            const double gi = g[i * C + c];
            double* a = acc.data() + c * (f1 - f0);
            for (int64_t f = f0; f < f1; ++f) a[f - f0] += gi * xi[f];
          }
        }
        for (int64_t c = 0; c < C; ++c)
          for (int64_t f = f0; f < f1; ++f) gw[c * d + f] = float(acc[c * (f1 - f0) + f - f0] * inv);
      });
      for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t i = 0; i < rows; ++i) s += g[i * C + c];
        gb[c] = float(s * inv);
      }
      // AdamW: decoupled decay on W, then the Adam step on W and b.
      ++step;
      const double c1 = 1.0 - std::pow(b1, double(step)), c2 = 1.0 - std::pow(b2, double(step));
      const float decay = float(1.0 - double(p.lr) * p.weight_decay);
      auto adam = [&](float* w, float* m, float* v, const float* gr, int64_t count, bool decayed) {
        for (int64_t q = 0; q < count; ++q) {
          if (decayed) w[q] *= decay;
          m[q] = float(b1 * m[q] + (1.0 - b1) * gr[q]);
          v[q] = float(b2 * v[q] + (1.0 - b2) * double(gr[q]) * gr[q]);
          const double mh = m[q] / c1, vh = v[q] / c2;
          w[q] = float(w[q] - p.lr * mh / (std::sqrt(vh) + p.eps));
        }
      };
      parallel_for((C * d + 4095) / 4096, [&](int64_t t, int) {
        const int64_t q0 = t * 4096, q1 = std::min(C * d, q0 + 4096);
        adam(weight + q0, mw.data() + q0, vw.data() + q0, gw.data() + q0, q1 - q0, true);
      });
      adam(bias, mb.data(), vb.data(), gb.data(), C, false);
    }
    if (epoch_loss) epoch_loss[e] = float(loss_sum / double(batches));
  }
  for (int64_t q = 0; q < C * d; ++q)
    if (!std::isfinite(weight[q])) return fail(CLSA_ERR_NON_FINITE, "probe: the weights diverged (lr too large?)");
  return CLSA_OK;
}

clsa_status probe_predict(int64_t n, int64_t d, int32_t classes, const float* x, const float* weight,
                          const float* bias, int32_t* out_class) {
  parallel_for((n + 63) / 64, [&](int64_t t, int) {
    const int64_t i1 = std::min(n, (t + 1) * 64);
    for (int64_t i = t * 64; i < i1; ++i) {
      const float* xi = x + i * d;
      float best = -INFINITY;
      int32_t arg = 0;
      for (int32_t c = 0; c < classes; ++c) {
        const float* wc = weight + int64_t(c) * d;
        float acc = 0.0f;
        for (int64_t f = 0; f < d; ++f) acc += wc[f] * xi[f];
        acc += bias[c];
        if (acc > best) { best = acc; arg = c; }
      }
      out_class[i] = arg;
    }
  });
  return CLSA_OK;
}

}  // namespace clsa::cpu
