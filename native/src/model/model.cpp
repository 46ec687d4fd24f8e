// The C API of clsa/model.h: configuration checks, creation, state buffers and counters.
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "../cpu/nn/gemm.h"
#include "../internal.h"
#include "model_impl.h"

using namespace clsa;

namespace {

clsa_status check_config(const clsa_model_config* c) {
  if (!c) return fail(CLSA_ERR_INVALID_ARGUMENT, "config: expected a clsa_model_config but got NULL");
  if (c->device != CLSA_DEVICE_CPU && c->device != CLSA_DEVICE_CUDA)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->device: expected CLSA_DEVICE_CPU (0) or CLSA_DEVICE_CUDA (1) but got %d",
                c->device);
  if (c->precision != CLSA_PRECISION_FP32 && c->precision != CLSA_PRECISION_TF32 &&
      c->precision != CLSA_PRECISION_BF16 && c->precision != CLSA_PRECISION_FP16)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->precision: expected a clsa_precision (0 .. 3) but got %d",
                c->precision);
  if (c->device == CLSA_DEVICE_CPU && c->precision == CLSA_PRECISION_BF16 && !cpu::nn::gemm_bf16_supported())
    return fail(CLSA_ERR_UNSUPPORTED,
                "config->precision: bf16 on the CPU (CLSA_PRECISION_BF16) needs AVX512-BF16 (vdpbf16ps), which %s; "
                "use CLSA_PRECISION_FP32 (clsa_backend_info.cpu_bf16 says whether bf16 is available)",
                cpu::nn::gemm_bf16_unsupported_reason());
  if (c->device == CLSA_DEVICE_CPU && c->precision != CLSA_PRECISION_FP32 && c->precision != CLSA_PRECISION_BF16)
    return fail(CLSA_ERR_UNSUPPORTED,
                "config->precision: the CPU computes in fp32 (CLSA_PRECISION_FP32), or bf16 (CLSA_PRECISION_BF16) with "
                "AVX512-BF16, but got %d",
                c->precision);
  if (c->arch != CLSA_ARCH_RESNET_MINI && c->arch != CLSA_ARCH_RESNET18)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->arch: expected 0 (resnet-mini) or 1 (resnet18) but got %d", c->arch);
  if (c->width < 0 || c->width > 4096)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->width: expected 0 (default) .. 4096 but got %d", c->width);
  if (c->depth < 0 || c->depth > 64)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->depth: expected 0 (default) .. 64 but got %d", c->depth);
  if (c->in_channels < 1 || c->in_channels > 64)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->in_channels: expected 1 .. 64 but got %d", c->in_channels);
  if (c->proj_hidden < 0 || c->proj_hidden > 65536)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->proj_hidden: expected 0 (feature dim) .. 65536 but got %d",
                c->proj_hidden);
  if (c->proj_dim < 1 || c->proj_dim > 65536)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->proj_dim: expected 1 .. 65536 but got %d", c->proj_dim);
  if (c->queue_size < 1 || c->queue_size > (int64_t(1) << 26))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->queue_size: expected 1 .. 2^26 but got %lld", (long long)c->queue_size);
  const struct {
    const char* name;
    float v;
    float lo, hi;
    bool open_lo;
  } nums[] = {{"temperature", c->temperature, 0, 1e30f, true},
              {"ddm_temperature", c->ddm_temperature, 0, 1e30f, true},
              {"ddm_weight", c->ddm_weight, 0, 1e30f, false},
              {"encoder_momentum", c->encoder_momentum, 0, 1, false},
              {"momentum", c->momentum, 0, 1e30f, false},
              {"weight_decay", c->weight_decay, 0, 1e30f, false},
              {"bn_momentum", c->bn_momentum, 0, 1, false},
              {"bn_eps", c->bn_eps, 0, 1, true}};
  for (const auto& x : nums)
    if (!std::isfinite(x.v) || x.v > x.hi || (x.open_lo ? !(x.v > x.lo) : !(x.v >= x.lo)))
      return fail(CLSA_ERR_INVALID_ARGUMENT, "config->%s: expected a finite number %s %g%s but got %g", x.name,
                  x.open_lo ? ">" : ">=", x.lo, x.hi < 1e30f ? " and <= 1" : "", x.v);
  if (c->symmetric != 0 && c->symmetric != 1)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->symmetric: expected 0 or 1 but got %d", c->symmetric);
  if (c->loss_reduction != CLSA_LOSS_SUM && c->loss_reduction != CLSA_LOSS_MEAN)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->loss_reduction: expected CLSA_LOSS_SUM (0) or CLSA_LOSS_MEAN (1) but got %d",
                c->loss_reduction);
  if (c->split_bn < 1 || c->split_bn > 4096)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "config->split_bn: expected 1 .. 4096 groups but got %d", c->split_bn);
  return CLSA_OK;
}

clsa_status check_model(const clsa_model* m) {
  return m ? CLSA_OK : fail(CLSA_ERR_INVALID_ARGUMENT, "model: expected a model handle but got NULL");
}

clsa_status check_buffer(int32_t b) {
  if (b < 0 || b >= CLSA_MODEL_BUFFER_COUNT)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "buffer: expected 0 .. %d but got %d", CLSA_MODEL_BUFFER_COUNT - 1, b);
  return CLSA_OK;
}

// Marks the model busy for the duration of a call; a second concurrent call is refused.
struct BusyGuard {
  clsa_model* m;
  bool ok;
  explicit BusyGuard(clsa_model* model) : m(model), ok(!model->busy.exchange(true)) {}
  ~BusyGuard() {
    if (ok) m->busy.store(false);
  }
};

}  // namespace

namespace clsa::model {

Buf* buffer(clsa_model& m, int32_t b) {
  switch (b) {
    case CLSA_MODEL_QUERY_PARAMS: return &m.query;
    case CLSA_MODEL_KEY_PARAMS: return &m.key;
    case CLSA_MODEL_SGD_MOMENTUM: return &m.velocity;
    case CLSA_MODEL_QUERY_BN_STATS: return &m.query_stats;
    case CLSA_MODEL_KEY_BN_STATS: return &m.key_stats;
    case CLSA_MODEL_QUEUE: return &m.queue;
  }
  return nullptr;
}

int64_t buffer_count(const clsa_model& m, int32_t b) {
  switch (b) {
    case CLSA_MODEL_QUERY_PARAMS:
    case CLSA_MODEL_KEY_PARAMS:
    case CLSA_MODEL_SGD_MOMENTUM: return m.arch.params;
    case CLSA_MODEL_QUERY_BN_STATS:
    case CLSA_MODEL_KEY_BN_STATS: return m.arch.stats;
    case CLSA_MODEL_QUEUE: return m.cfg.queue_size * m.cfg.proj_dim;
  }
  return 0;
}

clsa_status check_images(const clsa_model& m, const clsa_images& im, const char* name) {
  if (!im.data) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s.data: expected NCHW floats but got NULL", name);
  if (im.n < 1 || im.n > kMaxDim)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s.n: expected a batch size >= 1 but got %lld", name, (long long)im.n);
  if (im.c != m.cfg.in_channels)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s.c: expected %d channels (config in_channels) but got %lld", name,
                m.cfg.in_channels, (long long)im.c);
  if (im.h < 8 || im.w < 8 || im.h > 8192 || im.w > 8192)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected height and width in [8, 8192] but got %lld x %lld", name,
                (long long)im.h, (long long)im.w);
  return CLSA_OK;
}

}  // namespace clsa::model

extern "C" {

void clsa_model_config_default(clsa_model_config* c) {
  if (!c) return;
  std::memset(c, 0, sizeof *c);
  c->device = CLSA_DEVICE_CPU;
  c->arch = CLSA_ARCH_RESNET_MINI;
  c->in_channels = 3;
  c->proj_dim = 128;
  c->queue_size = 4096;
  c->temperature = 0.2f;
  c->ddm_temperature = 0.2f;
  c->ddm_weight = 1.0f;
  c->encoder_momentum = 0.99f;
  c->momentum = 0.9f;
  c->weight_decay = 5e-4f;
  c->split_bn = 8;
  c->bn_momentum = 0.1f;
  c->bn_eps = 1e-5f;
}

clsa_status clsa_model_create(const clsa_model_config* config, clsa_model** out) {
  clear_error();
  if (!out) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: expected a pointer to receive the handle but got NULL");
  *out = nullptr;
  CLSA_TRY(check_config(config));
  std::unique_ptr<clsa_model> m;
  try {
    m.reset(new clsa_model());
    if (config->device == CLSA_DEVICE_CUDA) {
      clsa_status s = CLSA_OK;
      m->ops.reset(model::make_cuda_ops(config->device_index, config->precision, &s));
      if (!m->ops) return s;
    } else {
      m->ops.reset(model::make_cpu_ops(config->precision));
    }
    model::Ops& ops = *m->ops;
    ops.bind();
    m->cfg = *config;
    m->arch = model::build_arch(*config);
    // Initialised on the host (the same numbers on every back end), then moved into place.
    const int64_t p = m->arch.params, s = m->arch.stats;
    std::vector<float> params(size_t(p), 0.0f), stats(size_t(s), 0.0f);
    model::init_params(m->arch, config->seed, params.data(), stats.data());
    ops.upload(ops.sized(m->query, p), params.data(), p);
    ops.upload(ops.sized(m->key, p), params.data(), p);  // MoCo: param_k.data.copy_(param_q.data)
    ops.upload(ops.sized(m->query_stats, s), stats.data(), s);
    ops.upload(ops.sized(m->key_stats, s), stats.data(), s);
    ops.zero(ops.sized(m->grad, p), p);
    ops.zero(ops.sized(m->velocity, p), p);
    const int64_t k = config->queue_size, d = config->proj_dim;
    std::vector<float> queue(size_t(k * d), 0.0f);
    model::Rng qr(config->seed, 2);
    for (int64_t r = 0; r < k; ++r) {
      double ss = 0;
      float* row = queue.data() + r * d;
      for (int64_t j = 0; j < d; ++j) {
        row[j] = float(qr.normal());
        ss += double(row[j]) * row[j];
      }
      const float inv = float(1.0 / std::sqrt(ss));
      for (int64_t j = 0; j < d; ++j) row[j] *= inv;
    }
    ops.upload(ops.sized(m->queue, k * d), queue.data(), k * d);
    ops.sync();
    m->rng = model::Rng(config->seed, 3);
    *out = m.release();
    return CLSA_OK;
  } catch (const model::OpsError& e) {
    return e.status;
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "clsa_model_create: out of host memory");
  }
}

void clsa_model_destroy(clsa_model* model) { delete model; }

clsa_status clsa_model_get_info(const clsa_model* m, clsa_model_info* info) {
  clear_error();
  CLSA_TRY(check_model(m));
  if (!info) return fail(CLSA_ERR_INVALID_ARGUMENT, "info: expected a clsa_model_info but got NULL");
  info->parameter_count = m->arch.params;
  info->stats_count = m->arch.stats;
  info->feature_dim = m->arch.feature_dim;
  info->proj_dim = m->cfg.proj_dim;
  info->queue_size = m->cfg.queue_size;
  return CLSA_OK;
}

clsa_status clsa_model_step(clsa_model* m, const clsa_step_views* views, float lr, clsa_step_result* result) {
  clear_error();
  CLSA_TRY(check_model(m));
  if (!views) return fail(CLSA_ERR_INVALID_ARGUMENT, "views: expected a clsa_step_views but got NULL");
  if (!result) return fail(CLSA_ERR_INVALID_ARGUMENT, "result: expected a clsa_step_result but got NULL");
  if (!std::isfinite(lr) || lr < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "lr: expected a finite number >= 0 but got %g", lr);
  BusyGuard guard(m);
  if (!guard.ok) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: is busy with another call (one step at a time)");
  try {
    return model::step(*m, *views, lr, *result);
  } catch (const model::OpsError& e) {
    return e.status;
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "clsa_model_step: out of host memory");
  }
}

clsa_status clsa_model_embed(clsa_model* m, const clsa_images* images, float* features) {
  clear_error();
  CLSA_TRY(check_model(m));
  if (!images) return fail(CLSA_ERR_INVALID_ARGUMENT, "images: expected a clsa_images but got NULL");
  if (!features) return fail(CLSA_ERR_INVALID_ARGUMENT, "features: expected [n, feature_dim] floats but got NULL");
  CLSA_TRY(model::check_images(*m, *images, "images"));
  BusyGuard guard(m);
  if (!guard.ok) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: is busy with another call (one step at a time)");
  try {
    return model::embed(*m, *images, features);
  } catch (const model::OpsError& e) {
    return e.status;
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "clsa_model_embed: out of host memory");
  }
}

const char* clsa_model_buffer_name(int32_t b) {
  switch (b) {
    case CLSA_MODEL_QUERY_PARAMS: return "query_params";
    case CLSA_MODEL_KEY_PARAMS: return "key_params";
    case CLSA_MODEL_SGD_MOMENTUM: return "sgd_momentum";
    case CLSA_MODEL_QUERY_BN_STATS: return "query_bn_stats";
    case CLSA_MODEL_KEY_BN_STATS: return "key_bn_stats";
    case CLSA_MODEL_QUEUE: return "queue";
  }
  return "";
}

clsa_status clsa_model_buffer_size(const clsa_model* m, int32_t b, int64_t* count) {
  clear_error();
  CLSA_TRY(check_model(m));
  CLSA_TRY(check_buffer(b));
  if (!count) return fail(CLSA_ERR_INVALID_ARGUMENT, "count: expected a pointer but got NULL");
  *count = model::buffer_count(*m, b);
  return CLSA_OK;
}

clsa_status clsa_model_get_buffer(const clsa_model* m, int32_t b, float* dst, int64_t count) {
  clear_error();
  CLSA_TRY(check_model(m));
  CLSA_TRY(check_buffer(b));
  const int64_t size = model::buffer_count(*m, b);
  if (count != size)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "count: buffer %s holds %lld floats but got count %lld",
                clsa_model_buffer_name(b), (long long)size, (long long)count);
  if (!dst) return fail(CLSA_ERR_INVALID_ARGUMENT, "dst: expected %lld floats but got NULL", (long long)count);
  try {
    m->ops->bind();
    m->ops->download(dst, model::buffer(*const_cast<clsa_model*>(m), b)->data(), size);
  } catch (const model::OpsError& e) {
    return e.status;
  }
  return CLSA_OK;
}

clsa_status clsa_model_set_buffer(clsa_model* m, int32_t b, const float* src, int64_t count) {
  clear_error();
  CLSA_TRY(check_model(m));
  CLSA_TRY(check_buffer(b));
  const int64_t size = model::buffer_count(*m, b);
  if (count != size)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "count: buffer %s holds %lld floats but got count %lld",
                clsa_model_buffer_name(b), (long long)size, (long long)count);
  if (!src) return fail(CLSA_ERR_INVALID_ARGUMENT, "src: expected %lld floats but got NULL", (long long)count);
  BusyGuard guard(m);
  if (!guard.ok) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: is busy with another call (one step at a time)");
  try {
    m->ops->bind();
    m->ops->upload(model::buffer(*m, b)->data(), src, size);
    m->ops->sync();
  } catch (const model::OpsError& e) {
    return e.status;
  }
  return CLSA_OK;
}

clsa_status clsa_model_get_counters(const clsa_model* m, clsa_model_counters* c) {
  clear_error();
  CLSA_TRY(check_model(m));
  if (!c) return fail(CLSA_ERR_INVALID_ARGUMENT, "counters: expected a clsa_model_counters but got NULL");
  c->queue_pointer = m->queue_pointer;
  c->step = m->step;
  std::memcpy(c->rng, m->rng.s, sizeof c->rng);
  return CLSA_OK;
}

clsa_status clsa_model_set_counters(clsa_model* m, const clsa_model_counters* c) {
  clear_error();
  CLSA_TRY(check_model(m));
  if (!c) return fail(CLSA_ERR_INVALID_ARGUMENT, "counters: expected a clsa_model_counters but got NULL");
  if (c->queue_pointer < 0 || c->queue_pointer >= m->cfg.queue_size)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "counters->queue_pointer: expected 0 .. %lld but got %lld",
                (long long)(m->cfg.queue_size - 1), (long long)c->queue_pointer);
  if (c->step < 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "counters->step: expected >= 0 but got %lld", (long long)c->step);
  if ((c->rng[0] | c->rng[1] | c->rng[2] | c->rng[3]) == 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "counters->rng: the all-zero state is not a valid generator state");
  BusyGuard guard(m);
  if (!guard.ok) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: is busy with another call (one step at a time)");
  m->queue_pointer = c->queue_pointer;
  m->step = c->step;
  std::memcpy(m->rng.s, c->rng, sizeof c->rng);
  return CLSA_OK;
}

}  // extern "C"
