// The checker: the CLSA objective in its naive, materialising form with float64 accumulation.
// Every fast kernel (CPU and CUDA) is tested against this. Written for clarity, not speed.
#include <cmath>
#include <vector>

#include "../internal.h"
#include "head.h"

namespace clsa::cpu {

clsa_status head_reference(const clsa_head_desc& d, const clsa_head_tensors& t) {
  const int64_t N = d.n, D = d.d, K = d.k, W = d.w, S = d.s, C = N + K;
  const double tau = d.temperature, tau2 = d.ddm_temperature, alpha = d.ddm_weight;

  // Normalised copies (or plain copies) in double, and the norms for the backward pass.
  auto prep = [&](const float* src, int64_t rows, std::vector<double>& out, std::vector<double>& norm) {
    out.assign(size_t(rows * D), 0.0);
    norm.assign(size_t(rows), 1.0);
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += double(src[r * D + j]) * src[r * D + j];
      double nr = d.normalize ? std::sqrt(ss) : 1.0;
      norm[size_t(r)] = nr;
      for (int64_t j = 0; j < D; ++j) out[size_t(r * D + j)] = src[r * D + j] / nr;
    }
  };
  std::vector<double> qw, qs, kn, nw, ns, nk;
  prep(t.weak, W * N, qw, nw);
  prep(t.strong, S * N, qs, ns);
  prep(t.keys, N, kn, nk);
  std::vector<double> X(size_t(C * D));
  for (int64_t j = 0; j < N * D; ++j) X[size_t(j)] = kn[size_t(j)];
  for (int64_t j = 0; j < K * D; ++j) X[size_t(N * D + j)] = t.queue[j];

  // logits[r][j] = q_r . X_j for every query row, materialised.
  auto logits = [&](const std::vector<double>& q, int64_t rows) {
    std::vector<double> L(size_t(rows * C));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < C; ++j) {
        double acc = 0;
        for (int64_t e = 0; e < D; ++e) acc += q[size_t(r * D + e)] * X[size_t(j * D + e)];
        L[size_t(r * C + j)] = acc;
      }
    return L;
  };
  auto softmax = [&](const double* l, double temp, std::vector<double>& p) {
    p.resize(size_t(C));
    double mx = -INFINITY;
    for (int64_t j = 0; j < C; ++j) mx = std::fmax(mx, l[j] / temp);
    double sum = 0;
    for (int64_t j = 0; j < C; ++j) sum += std::exp(l[j] / temp - mx);
    for (int64_t j = 0; j < C; ++j) p[size_t(j)] = std::exp(l[j] / temp - mx) / sum;
    return mx + std::log(sum);  // lse
  };
  std::vector<double> Lw = logits(qw, W * N), Ls = logits(qs, S * N);

  std::vector<double> gqw(size_t(W * N * D), 0.0), gqs(size_t(S * N * D), 0.0);
  double nce = 0, ddm = 0, correct = 0;
  std::vector<double> p, pw, ps;
  for (int64_t w = 0; w < W; ++w)
    for (int64_t i = 0; i < N; ++i) {
      const int64_t r = w * N + i;
      const double* l = &Lw[size_t(r * C)];
      double lse = softmax(l, tau, p);
      nce += (lse - l[i] / tau) / double(N);
      double mx = -INFINITY;
      for (int64_t j = 0; j < C; ++j) mx = std::fmax(mx, l[j]);
      if (l[i] >= mx) correct += 1;
      // dCE/dq = (sum_j p_j X_j - k_i) / (tau N)
      for (int64_t j = 0; j < C; ++j) {
        double c = (p[size_t(j)] - (j == i ? 1.0 : 0.0)) / (tau * double(N));
        for (int64_t e = 0; e < D; ++e) gqw[size_t(r * D + e)] += c * X[size_t(j * D + e)];
      }
      softmax(l, tau2, pw);  // detached weak distribution
      for (int64_t s = 0; s < S; ++s) {
        const int64_t rs = s * N + i;
        const double* ls = &Ls[size_t(rs * C)];
        double lse_s = softmax(ls, tau2, ps);
        double ce = 0;
        for (int64_t j = 0; j < C; ++j) ce -= pw[size_t(j)] * (ls[j] / tau2 - lse_s);
        ddm += ce / double(N);
        // d/dq_s of -sum_j pw_j log ps_j = sum_j (ps_j - pw_j) X_j / tau2
        for (int64_t j = 0; j < C; ++j) {
          double c = alpha * (ps[size_t(j)] - pw[size_t(j)]) / (tau2 * double(N));
          for (int64_t e = 0; e < D; ++e) gqs[size_t(rs * D + e)] += c * X[size_t(j * D + e)];
        }
      }
    }

  // Back through the normalisation: g_z = (g_q - q (q . g_q)) / |z|.
  auto unnorm = [&](const std::vector<double>& q, const std::vector<double>& nrm, const std::vector<double>& gq,
                    int64_t rows, float* out) {
    if (!out) return;
    for (int64_t r = 0; r < rows; ++r) {
      double dot = 0;
      for (int64_t e = 0; e < D; ++e) dot += q[size_t(r * D + e)] * gq[size_t(r * D + e)];
      for (int64_t e = 0; e < D; ++e) {
        double g = gq[size_t(r * D + e)];
        if (d.normalize) g = (g - q[size_t(r * D + e)] * dot) / nrm[size_t(r)];
        out[r * D + e] = float(g);
      }
    }
  };
  unnorm(qw, nw, gqw, W * N, t.grad_weak);
  unnorm(qs, ns, gqs, S * N, t.grad_strong);
  t.stats[0] = float(nce + alpha * ddm);
  t.stats[1] = float(nce);
  t.stats[2] = float(ddm);
  t.stats[3] = float(correct / double(W * N));
  return CLSA_OK;
}

}  // namespace clsa::cpu
