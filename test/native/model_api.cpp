// The model's C API as a native consumer sees it: status codes and messages that name the
// argument for bad configs and views, buffer sizes, counters, and one real step.
#include <clsa/clsa.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

static int failures = 0;

static void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

static void expect_error(clsa_status s, clsa_status want, const char* needle, const char* what) {
  const bool ok = s == want && std::strstr(clsa_last_error(), needle) != nullptr;
  std::printf("%s %s -> %s: %s\n", ok ? "ok  " : "FAIL", what, clsa_status_string(s), clsa_last_error());
  if (!ok) ++failures;
}

int main() {
  clsa_model_config c;
  clsa_model* m = nullptr;
  struct Bad {
    void (*edit)(clsa_model_config&);
    const char* needle;
  } bad[] = {
      {[](clsa_model_config& x) { x.arch = 7; }, "config->arch"},
      {[](clsa_model_config& x) { x.width = -1; }, "config->width"},
      {[](clsa_model_config& x) { x.in_channels = 0; }, "config->in_channels"},
      {[](clsa_model_config& x) { x.split_bn = 0; }, "config->split_bn"},
      {[](clsa_model_config& x) { x.temperature = 0; }, "config->temperature"},
      {[](clsa_model_config& x) { x.encoder_momentum = 1.5f; }, "config->encoder_momentum"},
      {[](clsa_model_config& x) { x.queue_size = 0; }, "config->queue_size"},
  };
  for (const Bad& b : bad) {
    clsa_model_config_default(&c);
    b.edit(c);
    expect_error(clsa_model_create(&c, &m), CLSA_ERR_INVALID_ARGUMENT, b.needle, b.needle);
    expect(m == nullptr, "  no handle on failure");
  }
  clsa_model_config_default(&c);
  c.precision = CLSA_PRECISION_BF16;
  expect_error(clsa_model_create(&c, &m), CLSA_ERR_UNSUPPORTED, "config->precision", "bf16 on the CPU");
  c.precision = 9;
  expect_error(clsa_model_create(&c, &m), CLSA_ERR_INVALID_ARGUMENT, "config->precision", "unknown precision");

  // A CUDA model: created where a GPU is usable, else a status that says why (not compiled in,
  // or no usable device), naming config->device.
  clsa_backend_info bi;
  clsa_backend_query(&bi);
  clsa_model_config_default(&c);
  c.device = CLSA_DEVICE_CUDA;
  if (bi.cuda_state == CLSA_CUDA_USABLE) {
    expect(clsa_model_create(&c, &m) == CLSA_OK && m, "CUDA model created on a usable GPU");
    clsa_model_destroy(m);
    m = nullptr;
  } else {
    expect_error(clsa_model_create(&c, &m), bi.cuda_compiled ? CLSA_ERR_NO_DEVICE : CLSA_ERR_NOT_COMPILED,
                 "config->device", "CUDA model without a usable GPU");
    expect(m == nullptr, "  no handle on failure");
  }

  clsa_model_config_default(&c);
  c.width = 8;
  c.in_channels = 1;
  c.queue_size = 40;
  c.split_bn = 4;
  c.seed = 9;
  expect(clsa_model_create(&c, &m) == CLSA_OK && m, "create resnet-mini width 8");
  clsa_model_info info;
  clsa_model_get_info(m, &info);
  expect(info.feature_dim == 32 && info.proj_dim == 128 && info.queue_size == 40, "info");
  int64_t count = 0;
  clsa_model_buffer_size(m, CLSA_MODEL_QUEUE, &count);
  expect(count == 40 * 128, "queue buffer size");
  clsa_model_buffer_size(m, CLSA_MODEL_KEY_PARAMS, &count);
  expect(count == info.parameter_count, "key params size");
  std::vector<float> q(size_t(info.parameter_count)), k(q.size());
  clsa_model_get_buffer(m, CLSA_MODEL_QUERY_PARAMS, q.data(), count);
  clsa_model_get_buffer(m, CLSA_MODEL_KEY_PARAMS, k.data(), count);
  expect(q == k, "key encoder starts as a copy of the query encoder");
  expect_error(clsa_model_get_buffer(m, CLSA_MODEL_QUERY_PARAMS, q.data(), count - 1), CLSA_ERR_INVALID_ARGUMENT,
               "query_params", "get_buffer with a wrong count");
  expect_error(clsa_model_get_buffer(m, 6, q.data(), count), CLSA_ERR_INVALID_ARGUMENT, "buffer", "unknown buffer");

  const int64_t n = 8;
  std::vector<float> key(size_t(n * 12 * 12)), weak(key.size()), strong(size_t(n * 9 * 9));
  for (size_t i = 0; i < key.size(); ++i) key[i] = std::sin(0.37f * float(i)), weak[i] = std::cos(0.11f * float(i));
  for (size_t i = 0; i < strong.size(); ++i) strong[i] = std::sin(0.05f * float(i) + 1.0f);
  clsa_images wv{weak.data(), n, 1, 12, 12}, sv{strong.data(), n, 1, 9, 9};
  clsa_step_views v{{key.data(), n, 1, 12, 12}, &wv, 1, &sv, 1};
  clsa_step_result r;
  clsa_step_views bv = v;
  bv.key.c = 3;
  expect_error(clsa_model_step(m, &bv, 0.1f, &r), CLSA_ERR_INVALID_ARGUMENT, "views.key.c", "channel mismatch");
  bv = v;
  bv.key.h = 7;
  expect_error(clsa_model_step(m, &bv, 0.1f, &r), CLSA_ERR_INVALID_ARGUMENT, "views.key", "input smaller than 8");
  clsa_images small_n{weak.data(), 6, 1, 12, 12};
  bv = v;
  bv.key.n = 6;
  bv.weak = &small_n;
  bv.strong = nullptr;
  bv.num_strong = 0;
  expect_error(clsa_model_step(m, &bv, 0.1f, &r), CLSA_ERR_INVALID_ARGUMENT, "split_bn", "batch not divisible");
  clsa_images other_n{weak.data(), 4, 1, 12, 12};
  bv = v;
  bv.weak = &other_n;
  expect_error(clsa_model_step(m, &bv, 0.1f, &r), CLSA_ERR_INVALID_ARGUMENT, "views.weak[0].n", "batch mismatch");

  expect(clsa_model_step(m, &v, 0.1f, &r) == CLSA_OK, "one step");
  expect(std::isfinite(r.loss) && std::fabs(r.loss - (r.nce_loss + r.ddm_loss)) < 1e-4f, "loss = nce + ddm");
  clsa_model_counters ctr;
  clsa_model_get_counters(m, &ctr);
  expect(ctr.step == 1 && ctr.queue_pointer == 8, "counters after one step");
  ctr.queue_pointer = 40;
  expect_error(clsa_model_set_counters(m, &ctr), CLSA_ERR_INVALID_ARGUMENT, "queue_pointer", "pointer out of range");
  std::vector<float> feat(size_t(3 * info.feature_dim));
  clsa_images ev{weak.data(), 3, 1, 12, 12};
  expect(clsa_model_embed(m, &ev, feat.data()) == CLSA_OK, "embed");
  clsa_model_destroy(m);
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
