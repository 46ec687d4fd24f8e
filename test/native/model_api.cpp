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

// Every state buffer of a model, concatenated.
static std::vector<float> state_of(clsa_model* m) {
  std::vector<float> all;
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b) {
    int64_t count = 0;
    clsa_model_buffer_size(m, b, &count);
    std::vector<float> x(static_cast<size_t>(count));
    clsa_model_get_buffer(m, b, x.data(), count);
    all.insert(all.end(), x.begin(), x.end());
  }
  return all;
}

static double rel_diff(const std::vector<float>& x, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += double(x[i] - ref[i]) * (x[i] - ref[i]), den += double(ref[i]) * ref[i];
  return std::sqrt(num / den);
}

// The small model most checks here use: resnet-mini width 8, one channel, K = 40, split-BN 4, seed 9.
static clsa_model_config small_config() {
  clsa_model_config c;
  clsa_model_config_default(&c);
  c.width = 8;
  c.in_channels = 1;
  c.queue_size = 40;
  c.split_bn = 4;
  c.seed = 9;
  return c;
}

// bf16 steps beside fp32 ones, and the same bits for 1 to 4 threads (the layers' sums do not
// depend on the thread count in bf16, the head's not up to 4 threads). A model this small is
// sensitive: its gradients move by tens of percent when the parameters move by bf16's rounding
// (ReLUs near zero switch), so each state buffer of the bf16 run is held to a few times what the
// fp32 run itself does when its initial parameters get relative noise of 2^-8.
static void check_bf16_steps(const clsa_step_views& v) {
  clsa_model_config c = small_config();
  auto train = [&](int32_t precision, int32_t threads, bool perturb, float* loss) {
    clsa_cpu_set_threads(threads);
    c.precision = precision;
    clsa_model* m = nullptr;
    std::vector<float> state;
    if (clsa_model_create(&c, &m) != CLSA_OK) return state;
    if (perturb) {
      int64_t np = 0;
      clsa_model_buffer_size(m, CLSA_MODEL_QUERY_PARAMS, &np);
      std::vector<float> q(static_cast<size_t>(np));
      clsa_model_get_buffer(m, CLSA_MODEL_QUERY_PARAMS, q.data(), np);
      uint32_t lcg = 12345;
      for (auto& x : q) {
        lcg = lcg * 1664525u + 1013904223u;
        x *= 1.0f + (float(lcg >> 8) / 16777216.0f * 2.0f - 1.0f) / 256.0f;
      }
      clsa_model_set_buffer(m, CLSA_MODEL_QUERY_PARAMS, q.data(), np);
      clsa_model_set_buffer(m, CLSA_MODEL_KEY_PARAMS, q.data(), np);
    }
    clsa_step_result r;
    for (int i = 0; i < 3; ++i)
      if (clsa_model_step(m, &v, 0.1f, &r) != CLSA_OK) r.loss = NAN;
    *loss = r.loss;
    state = state_of(m);
    clsa_model_destroy(m);
    return state;
  };
  float l32 = 0, l16 = 0, lp = 0;
  const std::vector<float> s32 = train(CLSA_PRECISION_FP32, 0, false, &l32), s16 = train(CLSA_PRECISION_BF16, 1, false, &l16),
                           sp = train(CLSA_PRECISION_FP32, 0, true, &lp);
  char what[200];
  std::snprintf(what, sizeof what, "bf16 steps: third loss %.5f beside fp32's %.5f (within 1%%)", l16, l32);
  expect(std::isfinite(l16) && std::fabs(l16 - l32) <= 0.01 * std::fabs(l32), what);
  bool sized = s16.size() == s32.size() && sp.size() == s32.size();
  expect(sized && std::memcmp(s16.data(), s32.data(), s32.size() * sizeof(float)) != 0, "bf16 steps: state differs from fp32's");
  clsa_model* probe = nullptr;
  c.precision = CLSA_PRECISION_FP32;
  clsa_model_create(&c, &probe);
  size_t off = 0;
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT && sized; ++b) {
    int64_t count = 0;
    clsa_model_buffer_size(probe, b, &count);
    auto part = [&](const std::vector<float>& x) { return std::vector<float>(x.begin() + long(off), x.begin() + long(off) + count); };
    const double d16 = rel_diff(part(s16), part(s32)), dp = rel_diff(part(sp), part(s32));
    std::snprintf(what, sizeof what, "bf16 steps: %s after 3 steps, rel. diff from fp32 %.2e (fp32 under 2^-8 noise: %.2e)",
                  clsa_model_buffer_name(b), d16, dp);
    expect(d16 <= 4 * dp, what);
    off += size_t(count);
  }
  clsa_model_destroy(probe);
  for (int32_t t = 2; t <= 4; ++t) {
    float lt = 0;
    const std::vector<float> st = train(CLSA_PRECISION_BF16, t, false, &lt);
    std::snprintf(what, sizeof what, "bf16 steps: %d threads give the same bits as 1 thread (every state buffer, loss)", t);
    expect(st.size() == s16.size() && std::memcmp(st.data(), s16.data(), st.size() * sizeof(float)) == 0 && lt == l16,
           what);
  }
  clsa_cpu_set_threads(0);
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
  // The CPU computes in fp32, or bf16 where it has AVX512-BF16 (cpu_bf16; CLSA_CPU_KERNEL=avx2
  // turns it off, which test/model_layers.test.ts uses to reach the refusal on such a CPU).
  clsa_backend_info bi;
  clsa_backend_query(&bi);
  clsa_model_config_default(&c);
  c.precision = CLSA_PRECISION_BF16;
  if (bi.cpu_bf16) {
    expect(clsa_model_create(&c, &m) == CLSA_OK && m, "bf16 on the CPU: created (cpu_bf16 = 1)");
    clsa_model_destroy(m);
    m = nullptr;
  } else {
    expect_error(clsa_model_create(&c, &m), CLSA_ERR_UNSUPPORTED, "config->precision: bf16 on the CPU (CLSA_PRECISION_BF16) needs AVX512-BF16",
                 "bf16 on the CPU without AVX512-BF16 (cpu_bf16 = 0)");
    expect(m == nullptr, "  no handle on failure");
  }
  c.precision = CLSA_PRECISION_TF32;
  expect_error(clsa_model_create(&c, &m), CLSA_ERR_UNSUPPORTED, "config->precision", "tf32 on the CPU");
  c.precision = 9;
  expect_error(clsa_model_create(&c, &m), CLSA_ERR_INVALID_ARGUMENT, "config->precision", "unknown precision");

  // A CUDA model: created where a GPU is usable, else a status that says why (not compiled in,
  // or no usable device), naming config->device.
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

  c = small_config();
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
  if (bi.cpu_bf16)
    check_bf16_steps(v);
  else
    std::printf("SKIP bf16 steps: %s\n", "this CPU has no AVX512-BF16 (or CLSA_CPU_KERNEL turns AVX-512 off)");
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
