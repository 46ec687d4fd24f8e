// One CLSA training step and the evaluation-mode embedding (see clsa/model.h for the order).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../cpu/threadpool.h"
#include "../internal.h"
#include "model_impl.h"

namespace clsa::model {
namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

clsa_status check_views(const clsa_model& m, const clsa_step_views& v) {
  CLSA_TRY(check_images(m, v.key, "views.key"));
  if (v.num_weak < 1 || v.num_weak > 64)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "views.num_weak: expected 1 .. 64 weak views but got %lld",
                (long long)v.num_weak);
  if (v.num_strong < 0 || v.num_strong > 64)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "views.num_strong: expected 0 .. 64 strong views but got %lld",
                (long long)v.num_strong);
  if (!v.weak) return fail(CLSA_ERR_INVALID_ARGUMENT, "views.weak: expected %lld views but got NULL", (long long)v.num_weak);
  if (v.num_strong > 0 && !v.strong)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "views.strong: expected %lld views but got NULL", (long long)v.num_strong);
  const int64_t n = v.key.n;
  if (n % m.cfg.split_bn != 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT,
                "views.key.n: the batch size must be divisible by the split-BN groups (split_bn = %d) but got %lld",
                m.cfg.split_bn, (long long)n);
  char name[48];
  for (int64_t i = 0; i < v.num_weak + v.num_strong; ++i) {
    const bool weak = i < v.num_weak;
    const clsa_images& im = weak ? v.weak[i] : v.strong[i - v.num_weak];
    std::snprintf(name, sizeof name, "views.%s[%lld]", weak ? "weak" : "strong", (long long)(weak ? i : i - v.num_weak));
    CLSA_TRY(check_images(m, im, name));
    if (im.n != n)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "%s.n: expected the key view's batch size %lld but got %lld", name,
                  (long long)n, (long long)im.n);
  }
  return CLSA_OK;
}

// torch.optim.SGD: d = g + wd p; buf = mu buf + d; p -= lr buf (buf starts at 0, so the first
// step's buf = d, as torch's clone).
void sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd) {
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

}  // namespace

clsa_status step(clsa_model& m, const clsa_step_views& v, float lr, clsa_step_result& r) {
  CLSA_TRY(check_views(m, v));
  const Arch& a = m.arch;
  const clsa_model_config& c = m.cfg;
  const int64_t n = v.key.n, d = c.proj_dim, nw = v.num_weak, ns = v.num_strong;
  const BnMode train{true, c.split_bn, c.bn_momentum, c.bn_eps, true};
  std::memset(&r, 0, sizeof r);

  // 1-2. Momentum update (before the key forward, as MoCo), then the key encoder on a shuffled batch.
  double t0 = now();
  CLSA_TRY(clsa_momentum_update(CLSA_DEVICE_CPU, 0, m.key.data(), m.query.data(), a.params, c.encoder_momentum, nullptr));
  m.perm.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) m.perm[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(m.perm[size_t(i)], m.perm[m.rng.below(uint32_t(i + 1))]);
  encoder_forward(a, m.key.data(), m.key_stats.data(), v.key.data, n, v.key.h, v.key.w, m.perm.data(), train, true,
                  m.key_trace);
  m.keys.resize(size_t(n * d));
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(m.keys.data() + m.perm[size_t(i)] * d, m.key_trace.z.data() + i * d, sizeof(float) * size_t(d));
  double t1 = now();
  r.seconds_key_forward = t1 - t0;

  // 3. Query encoder, one pass per view (BN statistics per view, as the reference).
  m.views.resize(size_t(nw + ns));
  m.weak_z.resize(size_t(nw * n * d));
  m.strong_z.resize(size_t(ns * n * d));
  for (int64_t i = 0; i < nw + ns; ++i) {
    const clsa_images& im = i < nw ? v.weak[i] : v.strong[i - nw];
    Trace& t = m.views[size_t(i)];
    encoder_forward(a, m.query.data(), m.query_stats.data(), im.data, n, im.h, im.w, nullptr, train, true, t);
    float* dst = i < nw ? m.weak_z.data() + i * n * d : m.strong_z.data() + (i - nw) * n * d;
    std::memcpy(dst, t.z.data(), sizeof(float) * size_t(n * d));
  }
  double t2 = now();
  r.seconds_query_forward = t2 - t1;

  // 4. The fused head.
  clsa_head_desc hd{};
  hd.device = CLSA_DEVICE_CPU;
  hd.precision = CLSA_PRECISION_FP32;
  hd.normalize = 1;
  hd.n = n;
  hd.d = d;
  hd.k = c.queue_size;
  hd.w = nw;
  hd.s = ns;
  hd.temperature = c.temperature;
  hd.ddm_temperature = c.ddm_temperature;
  hd.ddm_weight = c.ddm_weight;
  m.grad_weak.resize(size_t(nw * n * d));
  m.grad_strong.resize(size_t(ns * n * d));
  float stats[4] = {0, 0, 0, 0};
  clsa_head_tensors ht{m.weak_z.data(), ns ? m.strong_z.data() : nullptr, m.keys.data(), m.queue.data(),
                       m.grad_weak.data(), ns ? m.grad_strong.data() : nullptr, stats};
  CLSA_TRY(clsa_head_forward_backward(&hd, &ht, nullptr, 0));
  r.loss = stats[0];
  r.nce_loss = stats[1];
  r.ddm_loss = stats[2];
  r.accuracy = stats[3];
  double t3 = now();
  r.seconds_head = t3 - t2;
  if (!std::isfinite(stats[0]))
    return fail(CLSA_ERR_NON_FINITE, "step: the loss is %g; parameters were not updated (learning rate too high?)",
                stats[0]);

  // 5. Backward through every view into one gradient buffer.
  std::fill(m.grad.begin(), m.grad.end(), 0.0f);
  for (int64_t i = 0; i < nw + ns; ++i) {
    const float* dz = i < nw ? m.grad_weak.data() + i * n * d : m.grad_strong.data() + (i - nw) * n * d;
    encoder_backward(a, m.query.data(), m.views[size_t(i)], dz, m.grad.data(), m.scratch);
  }
  double t4 = now();
  r.seconds_backward = t4 - t3;

  // 6. SGD, then the keys into the queue.
  sgd(m.query.data(), m.grad.data(), m.velocity.data(), a.params, lr, c.momentum, c.weight_decay);
  CLSA_TRY(clsa_queue_enqueue(CLSA_DEVICE_CPU, 0, m.queue.data(), c.queue_size, d, m.keys.data(), n, 1,
                              &m.queue_pointer, nullptr));
  ++m.step;
  r.seconds_update = now() - t4;
  return CLSA_OK;
}

clsa_status embed(clsa_model& m, const clsa_images& im, float* features) {
  const BnMode eval{false, 1, m.cfg.bn_momentum, m.cfg.bn_eps, false};
  const int64_t chunk = 256, per_image = im.c * im.h * im.w, f = m.arch.feature_dim;
  for (int64_t i0 = 0; i0 < im.n; i0 += chunk) {
    const int64_t nb = std::min(chunk, im.n - i0);
    encoder_forward(m.arch, m.query.data(), m.query_stats.data(), im.data + i0 * per_image, nb, im.h, im.w, nullptr,
                    eval, false, m.embed_trace);
    std::memcpy(features + i0 * f, m.embed_trace.feat.data(), sizeof(float) * size_t(nb * f));
  }
  m.embed_trace = Trace();  // evaluation batches can be large; do not keep their activations
  return CLSA_OK;
}

}  // namespace clsa::model
