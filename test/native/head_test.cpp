// Native checks of the C API, run under AddressSanitizer + UBSan by test/native.test.ts:
// the fused head against the float64 reference on random odd shapes, every argument check,
// the EMA and the queue.
#include <clsa/clsa.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

static int failures = 0;
#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      ++failures;                               \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                 \
      std::printf("\n");                        \
    }                                           \
  } while (0)

static double rel_norm(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e += double(a[i] - b[i]) * (a[i] - b[i]);
    n += double(b[i]) * b[i];
  }
  return n > 0 ? std::sqrt(e / n) : std::sqrt(e);
}

static void head_case(std::mt19937& rng, int64_t N, int64_t D, int64_t K, int64_t W, int64_t S, float tau, float tau2,
                      float alpha, int normalize) {
  std::uniform_real_distribution<float> U(-1, 1);
  auto fill = [&](int64_t n) { std::vector<float> v(static_cast<size_t>(n)); for (auto& x : v) x = U(rng); return v; };
  auto weak = fill(W * N * D), strong = fill(S * N * D), keys = fill(N * D), queue = fill(K * D);
  clsa_head_desc d{};
  d.device = CLSA_DEVICE_CPU;
  d.precision = CLSA_PRECISION_FP32;
  d.normalize = normalize;
  d.n = N; d.d = D; d.k = K; d.w = W; d.s = S;
  d.temperature = tau; d.ddm_temperature = tau2; d.ddm_weight = alpha;
  std::vector<float> gw(size_t(W * N * D), NAN), gs(size_t(S * N * D) + 1, NAN), st(4, NAN);
  std::vector<float> rgw(gw.size()), rgs(gs.size()), rst(4);
  clsa_head_tensors t{weak.data(), S ? strong.data() : nullptr, keys.data(), queue.data(), gw.data(), gs.data(), st.data()};
  clsa_head_tensors r{weak.data(), S ? strong.data() : nullptr, keys.data(), queue.data(), rgw.data(), rgs.data(), rst.data()};
  // Caller-provided workspace, exactly the size asked for.
  size_t bytes = 0;
  CHECK(clsa_head_workspace_size(&d, &bytes) == CLSA_OK, "workspace_size: %s", clsa_last_error());
  std::vector<char> ws(bytes);
  CHECK(clsa_head_forward_backward(&d, &t, ws.data(), ws.size()) == CLSA_OK, "fused: %s", clsa_last_error());
  CHECK(clsa_head_reference(&d, &r) == CLSA_OK, "reference: %s", clsa_last_error());
  gs.resize(size_t(S * N * D));
  rgs.resize(gs.size());
  for (int i = 0; i < 3; ++i)
    CHECK(std::fabs(st[size_t(i)] - rst[size_t(i)]) <= 1e-5 * std::fabs(rst[size_t(i)]) + 1e-7, "stat %d: %g vs %g (N=%lld K=%lld)",
          i, st[size_t(i)], rst[size_t(i)], (long long)N, (long long)K);
  CHECK(st[3] == rst[3], "accuracy %g vs %g", st[3], rst[3]);
  CHECK(rel_norm(gw, rgw) < 1e-4, "grad_weak rel %g", rel_norm(gw, rgw));
  if (S > 0 && alpha > 0) CHECK(rel_norm(gs, rgs) < 1e-4, "grad_strong rel %g", rel_norm(gs, rgs));
}

static void argument_checks() {
  float buf[64] = {0};
  for (int i = 0; i < 64; ++i) buf[i] = 0.1f * float(i + 1);
  clsa_head_desc d{};
  d.n = 2; d.d = 4; d.k = 3; d.w = 1; d.s = 1;
  d.temperature = 0.2f; d.ddm_temperature = 0.2f; d.ddm_weight = 1; d.normalize = 1;
  clsa_head_tensors t{buf, buf, buf, buf, buf + 32, buf + 40, buf + 60};
  CHECK(clsa_head_forward_backward(&d, &t, nullptr, 0) == CLSA_OK, "baseline: %s", clsa_last_error());
  auto expect_invalid = [&](clsa_head_desc dd, clsa_head_tensors tt, const char* needle) {
    clsa_status s = clsa_head_forward_backward(&dd, &tt, nullptr, 0);
    CHECK(s != CLSA_OK, "expected failure for %s", needle);
    CHECK(std::strstr(clsa_last_error(), needle) != nullptr, "message '%s' lacks '%s'", clsa_last_error(), needle);
  };
  clsa_head_desc b = d; b.n = 0; expect_invalid(b, t, "desc->n");
  b = d; b.k = 0; expect_invalid(b, t, "desc->k");
  b = d; b.w = 0; expect_invalid(b, t, "desc->w");
  b = d; b.s = -1; expect_invalid(b, t, "desc->s");
  b = d; b.d = (int64_t)1 << 40; expect_invalid(b, t, "desc->d");
  b = d; b.temperature = 0; expect_invalid(b, t, "desc->temperature");
  b = d; b.ddm_temperature = -1; expect_invalid(b, t, "desc->ddm_temperature");
  b = d; b.ddm_weight = NAN; expect_invalid(b, t, "desc->ddm_weight");
  b = d; b.normalize = 2; expect_invalid(b, t, "desc->normalize");
  b = d; b.precision = 7; expect_invalid(b, t, "desc->precision");
  b = d; b.precision = CLSA_PRECISION_BF16; expect_invalid(b, t, "fp32 only");
  b = d; b.device = 5; expect_invalid(b, t, "desc->device");
  clsa_head_tensors u = t; u.weak = nullptr; expect_invalid(d, u, "tensors->weak");
  u = t; u.strong = nullptr; expect_invalid(d, u, "tensors->strong");
  u = t; u.stats = nullptr; expect_invalid(d, u, "tensors->stats");
  CHECK(clsa_head_forward_backward(nullptr, &t, nullptr, 0) == CLSA_ERR_INVALID_ARGUMENT, "null desc");
  CHECK(clsa_head_forward_backward(&d, &t, buf, 8) == CLSA_ERR_INVALID_ARGUMENT, "tiny workspace accepted");
  CHECK(std::strstr(clsa_last_error(), "workspace_bytes") != nullptr, "workspace message: %s", clsa_last_error());
  CHECK(std::strcmp(clsa_status_string(CLSA_ERR_OUT_OF_MEMORY), "CLSA_ERR_OUT_OF_MEMORY") == 0, "status string");
  CHECK(std::strcmp(clsa_status_string((clsa_status)99), "CLSA_ERR_UNKNOWN") == 0, "unknown status string");
  CHECK(clsa_momentum_update(CLSA_DEVICE_CPU, 0, buf, buf + 8, 8, 1.5f, nullptr) == CLSA_ERR_INVALID_ARGUMENT, "m > 1");
  CHECK(clsa_momentum_update(CLSA_DEVICE_CPU, 0, nullptr, buf, 8, 0.5f, nullptr) == CLSA_ERR_INVALID_ARGUMENT, "null target");
  int64_t ptr = 5;
  CHECK(clsa_queue_enqueue(CLSA_DEVICE_CPU, 0, buf, 3, 4, buf, 1, 0, &ptr, nullptr) == CLSA_ERR_INVALID_ARGUMENT, "pointer >= k");
  clsa_backend_info info;
  CHECK(clsa_backend_query(&info) == CLSA_OK, "backend_query");
  CHECK(info.cpu_threads >= 1, "cpu threads %d", info.cpu_threads);
}

static void ema_and_queue(std::mt19937& rng) {
  std::uniform_real_distribution<float> U(-1, 1);
  const int64_t n = 100003;
  std::vector<float> t(static_cast<size_t>(n)), s(static_cast<size_t>(n)), t0;
  for (auto& x : t) x = U(rng);
  for (auto& x : s) x = U(rng);
  t0 = t;
  CHECK(clsa_momentum_update(CLSA_DEVICE_CPU, 0, t.data(), s.data(), n, 0.99f, nullptr) == CLSA_OK, "ema");
  double err = 0;
  for (int64_t i = 0; i < n; ++i) err = std::fmax(err, std::fabs(t[size_t(i)] - (0.99 * t0[size_t(i)] + 0.01 * s[size_t(i)])));
  CHECK(err < 1e-6, "ema err %g", err);

  const int64_t K = 7, D = 3;
  std::vector<float> q(size_t(K * D), 0.0f), keys(size_t(10 * D));
  for (auto& x : keys) x = U(rng);
  int64_t ptr = 4;
  CHECK(clsa_queue_enqueue(CLSA_DEVICE_CPU, 0, q.data(), K, D, keys.data(), 10, 0, &ptr, nullptr) == CLSA_OK, "enqueue");
  CHECK(ptr == (4 + 10) % K, "pointer %lld", (long long)ptr);
  // The last K of the 10 keys survive, key r at row (4 + r) % K.
  for (int64_t r = 3; r < 10; ++r)
    for (int64_t e = 0; e < D; ++e)
      CHECK(q[size_t(((4 + r) % K) * D + e)] == keys[size_t(r * D + e)], "queue row of key %lld", (long long)r);
}

int main() {
  std::random_device rd;
  const unsigned seed = rd();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  head_case(rng, 7, 5, 13, 5, 3, 0.2f, 0.3f, 1.0f, 1);
  head_case(rng, 7, 5, 13, 5, 0, 0.2f, 0.2f, 1.0f, 0);
  head_case(rng, 1, 1, 1, 1, 1, 0.5f, 0.5f, 1.0f, 1);
  head_case(rng, 33, 70, 401, 2, 2, 0.1f, 0.2f, 0.5f, 1);
  head_case(rng, 19, 128, 500, 1, 1, 0.2f, 0.2f, 1.0f, 1);
  head_case(rng, 200, 13, 250, 1, 2, 0.2f, 0.25f, 0.0f, 0);
  clsa_cpu_set_threads(1);
  head_case(rng, 9, 33, 77, 3, 2, 0.2f, 0.3f, 1.0f, 1);
  clsa_cpu_set_threads(0);
  argument_checks();
  ema_and_queue(rng);
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  return failures ? 1 : 0;
}
