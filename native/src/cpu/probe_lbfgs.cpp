// The converged linear probe: full-batch multinomial logistic regression with an L2 penalty on W,
// minimised by L-BFGS. The objective is strongly convex (weight_decay > 0), so there is one
// answer and the solver either reaches it (gradient norm below the tolerance) or says it did not.
//
// The objective is evaluated in one pass over the rows per evaluation (each row's logits, softmax
// and gradient share one read of the row), in double. Rows are cut into fixed blocks whose
// partial gradients are summed in block order, so results are identical for any number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "../internal.h"
#include "knn.h"
#include "threadpool.h"

// The vector helpers are inlined into each clone; their by-value ABI never crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace clsa::cpu {
namespace {

constexpr int64_t kBlock = 512;  // rows per task; the partition does not depend on the thread count
constexpr int kGroup = 8;        // classes whose dot products share one load of x

typedef double v8 __attribute__((vector_size(64), aligned(8)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));

__attribute__((always_inline)) inline v8 load8(const double* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Eight floats of x widened to double.
__attribute__((always_inline)) inline v8 load8f(const float* p) {
  v8f v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_convertvector(v, v8);
}
__attribute__((always_inline)) inline double hsum(v8 v) {
  double s = 0;
  for (int l = 0; l < 8; ++l) s += v[l];
  return s;
}

// One block of rows in one pass over x: logits, softmax, loss, and the block's share of G^T X.
// Everything is double: near the minimum the objective changes by less than float's rounding of
// a logit, and the gradient is a small difference of large per-row terms, so a float objective
// stalls the line search at |grad| ~ 1e-5 (measured) instead of reaching the tolerance. Cloned per
// instruction set: the 8-lane vector type becomes one zmm, two ymm or scalar code.
#if defined(__x86_64__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
double block_eval(int64_t r0, int64_t r1, int64_t d, int64_t C, const float* x, const int32_t* labels,
                  const double* w, const double* b, double* gw, double* gb, double* z) {
  const int64_t d8 = d / 8 * 8;
  double loss = 0;
  for (int64_t i = r0; i < r1; ++i) {
    const float* xi = x + i * d;
    for (int64_t c0 = 0; c0 < C; c0 += kGroup) {
      const int64_t cn = std::min<int64_t>(kGroup, C - c0);
      v8 acc[kGroup] = {};
      for (int64_t f = 0; f < d8; f += 8) {
        const v8 xv = load8f(xi + f);
        for (int64_t c = 0; c < cn; ++c) acc[c] += load8(w + (c0 + c) * d + f) * xv;
      }
      for (int64_t c = 0; c < cn; ++c) {
        double t = hsum(acc[c]);
        for (int64_t f = d8; f < d; ++f) t += w[(c0 + c) * d + f] * double(xi[f]);
        z[c0 + c] = t + b[c0 + c];
      }
    }
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, z[c]);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(z[c] - mx);
    const double lse = mx + std::log(s);
    const int32_t y = labels[i];
    loss += lse - z[y];
    double g[kGroup];
    for (int64_t c0 = 0; c0 < C; c0 += kGroup) {
      const int64_t cn = std::min<int64_t>(kGroup, C - c0);
      for (int64_t c = 0; c < cn; ++c) {
        g[c] = std::exp(z[c0 + c] - lse) - (c0 + c == y ? 1.0 : 0.0);
        gb[c0 + c] += g[c];
      }
      for (int64_t f = 0; f < d8; f += 8) {
        const v8 xv = load8f(xi + f);
        for (int64_t c = 0; c < cn; ++c) {
          double* p = gw + (c0 + c) * d + f;
          const v8 r = load8(p) + g[c] * xv;
          std::memcpy(p, &r, sizeof r);
        }
      }
      for (int64_t c = 0; c < cn; ++c)
        for (int64_t f = d8; f < d; ++f) gw[(c0 + c) * d + f] += g[c] * double(xi[f]);
    }
  }
  return loss;
}

struct Objective {
  int64_t n, d, C;
  const float* x;
  const int32_t* labels;
  double lambda;
  std::vector<double> gw, gb, z, block_loss;  // per-block partial gradients [blocks, C, d], [blocks, C]

  void init() {
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    gw.resize(size_t(blocks * C * d));
    gb.resize(size_t(blocks * C));
    z.resize(size_t(blocks * C));
    block_loss.resize(size_t(blocks));
  }

  // f(theta) and its gradient; theta = [W (C x d) row-major, b (C)].
  double eval(const std::vector<double>& theta, std::vector<double>& grad) {
    const double* b = theta.data() + C * d;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    std::fill(gw.begin(), gw.end(), 0.0);
    std::fill(gb.begin(), gb.end(), 0.0);
    parallel_for(blocks, [&](int64_t t, int) {
      block_loss[t] = block_eval(t * kBlock, std::min(n, (t + 1) * kBlock), d, C, x, labels, theta.data(), b,
                                 gw.data() + t * C * d, gb.data() + t * C, z.data() + t * C);
    });
    std::fill(grad.begin(), grad.end(), 0.0);
    double loss = 0;
    for (int64_t t = 0; t < blocks; ++t) {
      loss += block_loss[t];
      const double* g = gw.data() + t * C * d;
      for (int64_t q = 0; q < C * d; ++q) grad[q] += g[q];
      for (int64_t c = 0; c < C; ++c) grad[C * d + c] += gb[t * C + c];
    }
    const double inv = 1.0 / double(n);
    double reg = 0;
    for (int64_t q = 0; q < C * d; ++q) {
      grad[q] = grad[q] * inv + lambda * theta[q];
      reg += theta[q] * theta[q];
    }
    for (int64_t c = 0; c < C; ++c) grad[C * d + c] *= inv;
    return loss * inv + 0.5 * lambda * reg;
  }
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

clsa_status probe_lbfgs(const clsa_probe_lbfgs_desc& p, const float* x, const int32_t* labels, float* weight,
                        float* bias, clsa_probe_lbfgs_report* report) {
  const int64_t n = p.n, d = p.d, C = p.classes, P = C * d + C;
  const int m = p.history;
  Objective obj{n, d, C, x, labels, p.weight_decay, {}, {}, {}, {}};
  std::vector<double> theta, grad, dir, theta_new, grad_new;
  std::vector<std::vector<double>> S, Y;
  std::vector<double> rho, alpha;
  try {
    obj.init();
    theta.resize(size_t(P));
    grad.resize(size_t(P));
    dir.resize(size_t(P));
    theta_new.resize(size_t(P));
    grad_new.resize(size_t(P));
    S.assign(size_t(m), std::vector<double>(size_t(P)));
    Y.assign(size_t(m), std::vector<double>(size_t(P)));
    rho.resize(size_t(m));
    alpha.resize(size_t(m));
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "probe: could not allocate the L-BFGS state (%lld parameters, history %d)",
                (long long)P, m);
  }
  for (int64_t q = 0; q < C * d; ++q) theta[q] = weight[q];
  for (int64_t c = 0; c < C; ++c) theta[C * d + c] = bias[c];

  double f = obj.eval(theta, grad);
  const double g0 = std::sqrt(dot(grad, grad));
  int stored = 0, head = 0, it = 0, evals = 1;
  bool converged = std::sqrt(dot(grad, grad)) <= p.tolerance * std::max(1.0, g0);
  double last_change = INFINITY;
  for (; !converged && it < p.max_iterations; ++it) {
    if (cancel_requested(p.cancel)) return fail(CLSA_ERR_CANCELLED, "probe: cancelled at L-BFGS iteration %d", it);
    // Two-loop recursion: dir = -H grad, with H0 = (s.y / y.y) I from the newest pair.
    for (int64_t q = 0; q < P; ++q) dir[q] = -grad[q];
    for (int k = 0; k < stored; ++k) {
      const int j = (head - 1 - k + m) % m;
      alpha[j] = rho[j] * dot(S[j], dir);
      for (int64_t q = 0; q < P; ++q) dir[q] -= alpha[j] * Y[j][q];
    }
    double gamma = 1.0;
    if (stored > 0) {
      const int j = (head - 1 + m) % m;
      gamma = dot(S[j], Y[j]) / dot(Y[j], Y[j]);
    } else {
      gamma = 1.0 / std::max(1.0, std::sqrt(dot(grad, grad)));
    }
    for (int64_t q = 0; q < P; ++q) dir[q] *= gamma;
    for (int k = stored - 1; k >= 0; --k) {
      const int j = (head - 1 - k + m) % m;
      const double beta = rho[j] * dot(Y[j], dir);
      for (int64_t q = 0; q < P; ++q) dir[q] += S[j][q] * (alpha[j] - beta);
    }
    double slope = dot(grad, dir);
    if (!(slope < 0)) {  // not a descent direction (rounding): restart from steepest descent
      stored = 0;
      for (int64_t q = 0; q < P; ++q) dir[q] = -grad[q] / std::max(1.0, std::sqrt(dot(grad, grad)));
      slope = dot(grad, dir);
    }
    // Backtracking line search with the Armijo condition; the unit step is usually taken.
    double step = 1.0, f_new = f;
    bool accepted = false;
    for (int ls = 0; ls < 40; ++ls) {
      for (int64_t q = 0; q < P; ++q) theta_new[q] = theta[q] + step * dir[q];
      f_new = obj.eval(theta_new, grad_new);
      ++evals;
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * step * slope) { accepted = true; break; }
      step *= 0.5;
    }
    if (!accepted) break;  // no decrease representable: as converged as float products allow
    double sy = 0, yy = 0;
    std::vector<double>& s = S[size_t(head)];
    std::vector<double>& y = Y[size_t(head)];
    for (int64_t q = 0; q < P; ++q) {
      s[q] = theta_new[q] - theta[q];
      y[q] = grad_new[q] - grad[q];
      sy += s[q] * y[q];
      yy += y[q] * y[q];
    }
    if (sy > 1e-12 * yy) {  // keep the pair only where it carries curvature
      rho[size_t(head)] = 1.0 / sy;
      head = (head + 1) % m;
      stored = std::min(stored + 1, m);
    }
    last_change = f - f_new;
    theta.swap(theta_new);
    grad.swap(grad_new);
    f = f_new;
    converged = std::sqrt(dot(grad, grad)) <= p.tolerance * std::max(1.0, g0);
  }
  for (int64_t q = 0; q < C * d; ++q) weight[q] = float(theta[q]);
  for (int64_t c = 0; c < C; ++c) bias[c] = float(theta[C * d + c]);
  if (report) {
    report->loss = f;
    report->gradient_norm = std::sqrt(dot(grad, grad));
    report->initial_gradient_norm = g0;
    report->last_loss_change = last_change;
    report->iterations = it;
    report->evaluations = evals;
    report->converged = converged ? 1 : 0;
  }
  if (!std::isfinite(f)) return fail(CLSA_ERR_NON_FINITE, "probe: the objective is not finite (non-finite features?)");
  return CLSA_OK;
}

}  // namespace clsa::cpu
