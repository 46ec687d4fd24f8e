// The CLSA head computed the unfused way, for the benchmark to time against the fused kernel:
// materialise the float32 logits L = Q X^T (M x (N+K)) with a blocked threaded SGEMM, softmax
// each row, overwrite L with dLoss/dlogits, and one more SGEMM G = coef X gives the gradients.
// Not part of the C API (clsa.h): the addon's bench bindings call it directly.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "../internal.h"
#include "head.h"
#include "sgemm.h"
#include "threadpool.h"

namespace clsa::cpu {
namespace sgemm_generic { extern const UnfusedKernels unfused; }
#if defined(__x86_64__)
namespace sgemm_avx2 { extern const UnfusedKernels unfused; }
namespace sgemm_avx512 { extern const UnfusedKernels unfused; }
#endif

const UnfusedKernels& unfused_kernels() {
  const std::string name = head_kernels().name;
#if defined(__x86_64__)
  if (name == "avx512") return sgemm_avx512::unfused;
  if (name == "avx2") return sgemm_avx2::unfused;
#endif
  return sgemm_generic::unfused;
}

namespace {

// A large uninitialised float buffer on transparent huge pages where the kernel offers them
// (numpy does the same for its large arrays): 4 KB page faults on the ~170 MB of logits would
// otherwise cost more than the arithmetic on a virtual machine.
struct BigBuffer {
  float* p = nullptr;
  explicit BigBuffer(size_t floats) {
    const size_t align = size_t(2) << 20, bytes = (floats * sizeof(float) + align - 1) / align * align;
    p = static_cast<float*>(std::aligned_alloc(align, bytes));
    if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
  }
  ~BigBuffer() { std::free(p); }
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;
};

constexpr double kLn2 = 0.6931471805599453;
constexpr double kLog2e = 1.4426950408889634;

void run_unfused(const clsa_head_desc& d, const clsa_head_tensors& t) {
  const UnfusedKernels& k = unfused_kernels();
  const int64_t N = d.n, D = d.d, K = d.k, W = d.w, S = d.s, C = N + K, WN = W * N, M = (W + S) * N;
  const float tau = d.temperature, tau2 = d.ddm_temperature, alpha = d.ddm_weight;
  const float s1 = float(kLog2e / tau), s2 = float(kLog2e / tau2);

  // Normalised queries Q [M, D], X = [keys; queue] and its transpose XT [D, C].
  std::vector<float> Q(static_cast<size_t>(M * D)), X(static_cast<size_t>(C * D)), XT(static_cast<size_t>(D * C)), norms(static_cast<size_t>(M));
  parallel_for(64, [&](int64_t task, int) {
    for (int64_t r = (M + N) * task / 64; r < (M + N) * (task + 1) / 64; ++r) {
      const float* src = r < WN ? t.weak + r * D : r < M ? t.strong + (r - WN) * D : t.keys + (r - M) * D;
      float* dst = r < M ? &Q[size_t(r * D)] : &X[size_t((r - M) * D)];
      double ss = 0;
      for (int64_t e = 0; e < D; ++e) ss += double(src[e]) * src[e];
      const float nr = d.normalize ? float(std::sqrt(ss)) : 1.0f;
      if (r < M) norms[size_t(r)] = nr;
      for (int64_t e = 0; e < D; ++e) dst[e] = src[e] / nr;
    }
  });
  std::copy(t.queue, t.queue + K * D, X.begin() + N * D);
  parallel_for(64, [&](int64_t task, int) {
    for (int64_t j = C * task / 64; j < C * (task + 1) / 64; ++j)
      for (int64_t e = 0; e < D; ++e) XT[size_t(e * C + j)] = X[size_t(j * D + e)];
  });

  // The logits, all of them (left uninitialised: the SGEMM writes every element, and the
  // threads touching their own blocks first spread the page faults).
  BigBuffer Lbuf(size_t(M * C));
  float* const Lp = Lbuf.p;
  k.sgemm(M, C, D, Q.data(), D, XT.data(), C, Lp, C);

  // Weak rows (tasks by i, so the W rows of one sample sum their tau2 distributions alone):
  // CE and accuracy, sum_w p_tau2(q_wi) into PW[i], then L row := dCE/dlogits.
  BigBuffer PWbuf(size_t(S > 0 ? N * C : 1));
  float* const PW = PWbuf.p;
  const int64_t tasks = std::min<int64_t>(N, 64);
  std::vector<double> nce(static_cast<size_t>(tasks), 0.0), ddm(static_cast<size_t>(tasks), 0.0);
  std::vector<int64_t> correct(static_cast<size_t>(tasks), 0);
  parallel_for(tasks, [&](int64_t task, int) {
    std::vector<float> p(static_cast<size_t>(C)), p2(static_cast<size_t>(s2 == s1 ? 0 : C));
    for (int64_t i = N * task / tasks; i < N * (task + 1) / tasks; ++i) {
      float* pw = S > 0 ? &PW[size_t(i * C)] : nullptr;
      if (pw) std::fill(pw, pw + C, 0.0f);
      for (int64_t w = 0; w < W; ++w) {
        float* l = &Lp[size_t((w * N + i) * C)];
        const float mx = k.row_max(l, C);
        if (l[i] >= mx) correct[size_t(task)] += 1;
        const float sum1 = k.row_exp2(l, C, s1, mx * s1, p.data());
        nce[size_t(task)] += (kLn2 * (double(mx) * s1 + std::log2(double(sum1))) - double(l[i]) / tau) / double(N);
        if (pw && s2 == s1) {
          const float inv = 1.0f / sum1;
          for (int64_t j = 0; j < C; ++j) pw[j] += p[size_t(j)] * inv;
        } else if (pw) {
          const float sum2 = k.row_exp2(l, C, s2, mx * s2, p2.data());
          const float inv = 1.0f / sum2;
          for (int64_t j = 0; j < C; ++j) pw[j] += p2[size_t(j)] * inv;
        }
        const float c = 1.0f / (sum1 * tau * float(N));
        for (int64_t j = 0; j < C; ++j) l[j] = p[size_t(j)] * c;
        l[i] -= 1.0f / (tau * float(N));
      }
    }
  });
  // Strong rows: DDM = sum_j PW_ij (lse - l_j / tau2); L row := alpha (W p_s - PW_i) / (tau2 N).
  if (S > 0) parallel_for(tasks, [&](int64_t task, int) {
    std::vector<float> p(static_cast<size_t>(C));
    for (int64_t i = N * task / tasks; i < N * (task + 1) / tasks; ++i) {
      const float* pw = &PW[size_t(i * C)];
      for (int64_t s = 0; s < S; ++s) {
        float* l = &Lp[size_t((WN + s * N + i) * C)];
        const float mx = k.row_max(l, C);
        const float sum = k.row_exp2(l, C, s2, mx * s2, p.data());
        const double lse = kLn2 * (double(mx) * s2 + std::log2(double(sum)));
        double cross = 0;
        for (int64_t j = 0; j < C; ++j) cross += double(pw[j]) * l[j];
        ddm[size_t(task)] += (double(W) * lse - cross / tau2) / double(N);
        const float c = float(W) / sum, g = alpha / (tau2 * float(N));
        for (int64_t j = 0; j < C; ++j) l[j] = g * (p[size_t(j)] * c - pw[j]);
      }
    }
  });

  // dLoss/dq = coef X for every row at once, then through the normalisation.
  std::vector<float> G(static_cast<size_t>(M * D));
  k.sgemm(M, D, C, Lp, C, X.data(), D, G.data(), D);
  parallel_for(64, [&](int64_t task, int) {
    for (int64_t r = M * task / 64; r < M * (task + 1) / 64; ++r) {
      float* out = r < WN ? t.grad_weak : t.grad_strong;
      if (!out) continue;
      out += (r < WN ? r : r - WN) * D;
      const float* g = &G[size_t(r * D)];
      const float* q = &Q[size_t(r * D)];
      float dot = 0;
      if (d.normalize)
        for (int64_t e = 0; e < D; ++e) dot += q[e] * g[e];
      for (int64_t e = 0; e < D; ++e) out[e] = (g[e] - q[e] * dot) / norms[size_t(r)];
    }
  });
  double a = 0, b = 0;
  int64_t c = 0;
  for (int64_t i = 0; i < tasks; ++i) {
    a += nce[size_t(i)];
    b += ddm[size_t(i)];
    c += correct[size_t(i)];
  }
  t.stats[0] = float(a + alpha * b);
  t.stats[1] = float(a);
  t.stats[2] = float(b);
  t.stats[3] = float(double(c) / double(WN));
}

}  // namespace

clsa_status head_unfused(const clsa_head_desc& d, const clsa_head_tensors& t) {
  if (d.n < 1 || d.d < 1 || d.k < 1 || d.w < 1 || d.s < 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "unfused head: bad shape n=%lld d=%lld k=%lld w=%lld s=%lld", (long long)d.n,
                (long long)d.d, (long long)d.k, (long long)d.w, (long long)d.s);
  try {
    run_unfused(d, t);
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "unfused head: could not allocate the %lld x %lld logits",
                (long long)((d.w + d.s) * d.n), (long long)(d.n + d.k));
  }
  return CLSA_OK;
}

}  // namespace clsa::cpu
