// One CLSA training step and the evaluation-mode embedding (see clsa/model.h for the order).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

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

// A fresh shuffle of the batch for the key encoder's split batch norm (MoCo's shuffle-BN).
void shuffle(clsa_model& m, int64_t n) {
  m.perm.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) m.perm[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(m.perm[size_t(i)], m.perm[m.rng.below(uint32_t(i + 1))]);
}

}  // namespace

clsa_status step(clsa_model& m, const clsa_step_views& v, float lr, clsa_step_result& r) {
  CLSA_TRY(check_views(m, v));
  Ops& ops = *m.ops;
  ops.bind();
  const Arch& a = m.arch;
  const clsa_model_config& c = m.cfg;
  const int32_t dev = ops.device(), di = ops.device_index();
  const int64_t n = v.key.n, d = c.proj_dim, nw = v.num_weak, ns = v.num_strong;
  // Data parallel: these n rows are rows first .. first + n - 1 of a global batch of ng rows.
  const int64_t world = m.world, ng = n * world, first = int64_t(m.rank) * n;
  const BnMode train{true, c.split_bn, c.bn_momentum, c.bn_eps, true};
  std::memset(&r, 0, sizeof r);
  // Phase times are wall clock around work that has finished (sync() waits for a GPU's queue).
  auto mark = [&ops] {
    ops.sync();
    return now();
  };
  auto gather = [&](const float* mine, float* all, int64_t count) {
    const double t = now();
    const clsa_status s = clsa_comm_all_gather(m.comm, mine, all, count, CLSA_COMM_FLOAT32, nullptr);
    r.seconds_comm += now() - t;
    return s;
  };
  // Collectives on the model's stream (the CUDA back end's legacy default stream, NULL): NCCL's are
  // enqueued, so on a GPU seconds_comm is the enqueueing and the waits land in the phase times.
  auto average = [&](float* x, int64_t count) {
    const double t = now();
    const clsa_status s = clsa_comm_all_reduce(m.comm, x, x, count, CLSA_COMM_FLOAT32, CLSA_COMM_MEAN, nullptr);
    r.seconds_comm += now() - t;
    return s;
  };

  // 1-2. Momentum update (before the key forward, as MoCo), then the key encoder on a shuffled batch.
  // Across ranks the shuffle is of the global batch (every rank draws the same permutation from the
  // same generator state): rank r encodes the permutation's r-th slice, so its split-BN groups are
  // those one process would form, and the gathered rows are un-permuted into global order.
  double t0 = mark();
  CLSA_TRY(clsa_momentum_update(dev, di, m.key.data(), m.query.data(), a.params, c.encoder_momentum, nullptr));
  auto keys_of = [&](const clsa_images& im, Buf& out) -> clsa_status {
    shuffle(m, ng);
    const float* images = im.data;
    if (world > 1) {
      const int64_t per = n * im.c * im.h * im.w;
      // Host views of a GPU model are uploaded first: NCCL gathers device memory.
      CLSA_TRY(gather(ops.resident(im.data, per, m.image_staging), ops.sized(m.all_images, per * world), per));
      images = m.all_images.data();
    }
    encoder_forward(ops, a, m.key.data(), m.key_stats.data(), images, n, im.h, im.w, m.perm.data() + first, train, true,
                    m.key_trace, ng);
    const float* z = m.key_trace.z.data();
    if (world > 1) {
      CLSA_TRY(gather(z, ops.sized(m.all_z, ng * d), n * d));
      z = m.all_z.data();
    }
    ops.scatter_rows(z, ng, d, m.perm.data(), ops.sized(out, ng * d));
    return CLSA_OK;
  };
  CLSA_TRY(keys_of(v.key, m.keys));
  // Symmetric: the first weak view's keys too, on a shuffle of their own.
  const bool sym = c.symmetric != 0;
  if (sym) CLSA_TRY(keys_of(v.weak[0], m.sym_keys));
  double t1 = mark();
  r.seconds_key_forward = t1 - t0;

  // 3. Query encoder, one pass per view (BN statistics per view, as the reference).
  // Symmetric: the key view is one more query view, after the others (its BN statistics last).
  const int64_t nq = nw + ns + (sym ? 1 : 0);
  m.views.resize(size_t(nq));
  float* weak_z = ops.sized(m.weak_z, nw * n * d);
  float* strong_z = ns ? ops.sized(m.strong_z, ns * n * d) : nullptr;
  float* sym_z = sym ? ops.sized(m.sym_z, n * d) : nullptr;
  for (int64_t i = 0; i < nq; ++i) {
    const clsa_images& im = i < nw ? v.weak[i] : i < nw + ns ? v.strong[i - nw] : v.key;
    Trace& t = m.views[size_t(i)];
    encoder_forward(ops, a, m.query.data(), m.query_stats.data(), im.data, n, im.h, im.w, nullptr, train, true, t);
    ops.copy(i < nw ? weak_z + i * n * d : i < nw + ns ? strong_z + (i - nw) * n * d : sym_z, t.z.data(), n * d);
  }
  double t2 = mark();
  r.seconds_query_forward = t2 - t1;

  // 4. The fused head, on the model's device (loss statistics in its memory).
  // Across ranks, this rank's query rows take their own rows' keys as the head's keys (the positive
  // of row i is key i) and the other ranks' keys, then the queue, as further candidates: the set one
  // process scores, [all keys; queue], in another order (which changes only the summation order).
  // The head normalises its keys but takes queue rows as unit rows, so the other ranks' keys go in
  // normalised, by the enqueue that normalises the queue's rows.
  auto candidates_of = [&](const Buf& keys, const float** out) -> clsa_status {
    *out = m.queue.data();
    if (world == 1) return CLSA_OK;
    const int64_t kc = ng - n + c.queue_size;
    float* x = ops.sized(m.candidates, kc * d);
    int64_t at = 0;
    CLSA_TRY(clsa_queue_enqueue(dev, di, x, kc, d, keys.data(), first, 1, &at, nullptr));
    CLSA_TRY(clsa_queue_enqueue(dev, di, x, kc, d, keys.data() + (first + n) * d, ng - first - n, 1, &at, nullptr));
    ops.copy(x + (ng - n) * d, m.queue.data(), c.queue_size * d);
    *out = x;
    return CLSA_OK;
  };
  clsa_head_desc hd{};
  hd.device = dev;
  hd.device_index = di;
  hd.precision = ops.head_precision();
  hd.normalize = 1;
  hd.n = n;
  hd.d = d;
  hd.k = c.queue_size + ng - n;
  hd.w = nw;
  hd.s = ns;
  hd.temperature = c.temperature;
  hd.ddm_temperature = c.ddm_temperature;
  // Mean reduction: loss = (nce_sum + alpha * C / (W S) * ddm_sum) / C with C contrastive terms (W, plus
  // the symmetric one). The head computes the bracket; 1 / C is taken in the statistics below and in SGD.
  const bool mean = c.loss_reduction == CLSA_LOSS_MEAN;
  const int64_t nc = nw + (sym ? 1 : 0);
  hd.ddm_weight = mean && ns ? c.ddm_weight * float(nc) / float(nw * ns) : c.ddm_weight;
  float* grad_weak = ops.sized(m.grad_weak, nw * n * d);
  float* grad_strong = ns ? ops.sized(m.grad_strong, ns * n * d) : nullptr;
  size_t ws_bytes = 0;
  CLSA_TRY(clsa_head_workspace_size(&hd, &ws_bytes));
  void* ws = ws_bytes ? ops.sized(m.head_workspace, int64_t((ws_bytes + sizeof(float) - 1) / sizeof(float))) : nullptr;
  const float* candidates = nullptr;
  CLSA_TRY(candidates_of(m.keys, &candidates));
  clsa_head_tensors ht{weak_z, strong_z, m.keys.data() + first * d, candidates, grad_weak, grad_strong,
                       ops.sized(m.head_stats, 4)};
  CLSA_TRY(clsa_head_forward_backward(&hd, &ht, ws, ws_bytes));
  float stats[4] = {0, 0, 0, 0};
  ops.download(stats, m.head_stats.data(), 4);
  r.loss = stats[0];
  r.nce_loss = stats[1];
  r.ddm_loss = stats[2];
  r.accuracy = stats[3];
  float* grad_sym = nullptr;
  if (sym) {
    // The mirrored contrastive term: the key view's query against the first weak view's keys, over the
    // same queue (nothing is enqueued until both terms are computed). No strong views: DDM is counted once.
    hd.w = 1;
    hd.s = 0;
    grad_sym = ops.sized(m.grad_sym, n * d);
    size_t sym_ws_bytes = 0;
    CLSA_TRY(clsa_head_workspace_size(&hd, &sym_ws_bytes));
    if (sym_ws_bytes > ws_bytes) {
      ws_bytes = sym_ws_bytes;
      ws = ops.sized(m.head_workspace, int64_t((ws_bytes + sizeof(float) - 1) / sizeof(float)));
    }
    CLSA_TRY(candidates_of(m.sym_keys, &candidates));
    clsa_head_tensors hs{sym_z, nullptr, m.sym_keys.data() + first * d, candidates, grad_sym, nullptr,
                         m.head_stats.data()};
    CLSA_TRY(clsa_head_forward_backward(&hd, &hs, ws, ws_bytes));
    ops.download(stats, m.head_stats.data(), 4);
    r.loss += stats[0];
    r.nce_loss += stats[1];
    r.accuracy = 0.5f * (r.accuracy + stats[3]);
  }
  if (mean) {
    r.loss /= float(nc);
    r.nce_loss /= float(nc);
    if (ns) r.ddm_loss /= float(nw * ns);
  }
  if (world > 1) {
    // Means over equal shares of the batch: their mean is the global batch's, identical on every rank.
    float s[4] = {r.loss, r.nce_loss, r.ddm_loss, r.accuracy};
    const double t = now();
    const clsa_status averaged = host_average(m, s, 4);  // host floats: staged on a GPU
    r.seconds_comm += now() - t;
    CLSA_TRY(averaged);
    r.loss = s[0];
    r.nce_loss = s[1];
    r.ddm_loss = s[2];
    r.accuracy = s[3];
  }
  double t3 = now();
  r.seconds_head = t3 - t2;
  // r.loss, not stats[0]: with the symmetric term stats holds only the second term's. Across ranks the
  // averaged loss, so that every rank stops here together rather than some waiting in a collective.
  if (!std::isfinite(r.loss))
    return fail(CLSA_ERR_NON_FINITE, "step: the loss is %g; parameters were not updated (learning rate too high?)",
                r.loss);

  // 5. Backward through every view into one gradient buffer.
  ops.zero(m.grad.data(), a.params);
  for (int64_t i = 0; i < nq; ++i) {
    const float* dz = i < nw ? grad_weak + i * n * d : i < nw + ns ? grad_strong + (i - nw) * n * d : grad_sym;
    encoder_backward(ops, a, m.query.data(), m.views[size_t(i)], dz, m.grad.data(), m.scratch);
  }
  if (world > 1) {
    // Each rank's gradient is of its mean loss over n rows: their mean is the gradient of the mean over
    // all ng rows. The running statistics' updates are linear in each group's statistics, so their mean
    // is what one process updating with all the groups holds.
    CLSA_TRY(average(m.grad.data(), a.params));
    CLSA_TRY(average(m.query_stats.data(), a.stats));
    CLSA_TRY(average(m.key_stats.data(), a.stats));
  }
  double t4 = mark();
  r.seconds_backward = t4 - t3;

  // 6. SGD, then the keys into the queue (across ranks every rank enqueues the same ng keys in order).
  // The gradient is the summed terms'. SGD on g / C with decay wd is SGD on g with lr / C and decay C wd
  // (the momentum buffer then holds C times torch's), which spares every back end a scaling kernel.
  const float red = mean ? float(nc) : 1.0f;
  ops.sgd(m.query.data(), m.grad.data(), m.velocity.data(), a.params, lr / red, c.momentum, c.weight_decay * red);
  CLSA_TRY(clsa_queue_enqueue(dev, di, m.queue.data(), c.queue_size, d, m.keys.data(), ng, 1, &m.queue_pointer,
                              nullptr));
  if (sym)
    CLSA_TRY(clsa_queue_enqueue(dev, di, m.queue.data(), c.queue_size, d, m.sym_keys.data(), ng, 1, &m.queue_pointer,
                                nullptr));
  ++m.step;
  if (world > 1 && m.check_every > 0 && m.step % m.check_every == 0) {
    const double t = now();
    const clsa_status s = check_replicas(m);
    r.seconds_comm += now() - t;
    CLSA_TRY(s);
  }
  r.seconds_update = mark() - t4;
  return CLSA_OK;
}

clsa_status embed(clsa_model& m, const clsa_images& im, float* features) {
  Ops& ops = *m.ops;
  ops.bind();
  const BnMode eval{false, 1, m.cfg.bn_momentum, m.cfg.bn_eps, false};
  const int64_t chunk = 256, per_image = im.c * im.h * im.w, f = m.arch.feature_dim;
  for (int64_t i0 = 0; i0 < im.n; i0 += chunk) {
    const int64_t nb = std::min(chunk, im.n - i0);
    encoder_forward(ops, m.arch, m.query.data(), m.query_stats.data(), im.data + i0 * per_image, nb, im.h, im.w,
                    nullptr, eval, false, m.embed_trace);
    ops.download(features + i0 * f, m.embed_trace.feat.data(), nb * f);
  }
  m.embed_trace = Trace();  // evaluation batches can be large; do not keep their activations
  return CLSA_OK;
}

}  // namespace clsa::model
