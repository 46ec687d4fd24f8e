// A native consumer of libclsa: runs the fused CLSA head on the CPU (and on a GPU when
// clsa_backend_query says one is usable) and checks loss, statistics and gradients against a
// naive float64 computation written out here from the definition (docs/objective.md).
//
// Exit status: 0 when every back end that ran agrees with the float64 result, 1 otherwise.
#include <clsa/clsa.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

// Sizes that divide no tile size, several crops of each kind.
constexpr int64_t N = 5, D = 13, K = 37, W = 2, S = 3;
constexpr float kTau = 0.2f, kTau2 = 0.15f, kAlpha = 0.7f;

struct Result {
  double loss = 0, nce = 0, ddm = 0, accuracy = 0;
  std::vector<double> grad_weak, grad_strong;
};

bool check(clsa_status s, const char* what) {
  if (s == CLSA_OK) return true;
  std::fprintf(stderr, "%s failed: %s: %s\n", what, clsa_status_string(s), clsa_last_error());
  return false;
}

std::vector<float> random_floats(size_t count, uint64_t& state) {
  std::vector<float> v(count);
  for (auto& x : v) {  // xorshift64*, uniform in [-1, 1)
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    x = float(double((state * 0x2545F4914F6CDD1DULL) >> 11) / double(1ULL << 53) * 2.0 - 1.0);
  }
  return v;
}

// The definition, in float64, materialising every logit.
Result naive(const std::vector<float>& weak, const std::vector<float>& strong, const std::vector<float>& keys,
             const std::vector<float>& queue) {
  auto unit = [](const float* z, std::vector<double>& q) {
    double n2 = 0;
    for (int64_t c = 0; c < D; ++c) n2 += double(z[c]) * z[c];
    double norm = std::sqrt(n2);
    q.resize(D);
    for (int64_t c = 0; c < D; ++c) q[c] = z[c] / norm;
    return norm;
  };
  // X = [normalised keys ; queue as given]
  std::vector<std::vector<double>> X(N + K);
  for (int64_t j = 0; j < N; ++j) unit(&keys[j * D], X[j]);
  for (int64_t j = 0; j < K; ++j) X[N + j].assign(queue.begin() + j * D, queue.begin() + (j + 1) * D);
  auto softmax = [&](const std::vector<double>& q, double t, std::vector<double>& p) {
    p.resize(N + K);
    double mx = -INFINITY;
    for (int64_t j = 0; j < N + K; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < D; ++c) dot += q[c] * X[j][c];
      p[j] = dot / t;
      mx = std::max(mx, p[j]);
    }
    double sum = 0;
    for (auto& v : p) sum += std::exp(v - mx);
    double lse = mx + std::log(sum);
    std::vector<double> logits = p;
    for (auto& v : p) v = std::exp(v - lse);
    return std::make_pair(lse, logits);
  };
  auto expect_x = [&](const std::vector<double>& p) {  // sum_j p_j X_j
    std::vector<double> o(D, 0.0);
    for (int64_t j = 0; j < N + K; ++j)
      for (int64_t c = 0; c < D; ++c) o[c] += p[j] * X[j][c];
    return o;
  };
  // dL/dz = (g - q (q . g)) / |z|
  auto through_norm = [](const std::vector<double>& q, double norm, const std::vector<double>& g, double* out) {
    double qg = 0;
    for (int64_t c = 0; c < D; ++c) qg += q[c] * g[c];
    for (int64_t c = 0; c < D; ++c) out[c] = (g[c] - q[c] * qg) / norm;
  };

  Result r;
  r.grad_weak.assign(W * N * D, 0.0);
  r.grad_strong.assign(S * N * D, 0.0);
  int64_t correct = 0;
  for (int64_t i = 0; i < N; ++i) {
    std::vector<std::vector<double>> o_w2(W);  // O_tau2(q_w)
    std::vector<std::vector<double>> p_w2(W);
    for (int64_t w = 0; w < W; ++w) {
      std::vector<double> q, p;
      double norm = unit(&weak[(w * N + i) * D], q);
      auto [lse, logits] = softmax(q, kTau, p);
      r.nce += (lse - logits[i]) / N;
      if (std::max_element(logits.begin(), logits.end()) - logits.begin() == i) ++correct;
      std::vector<double> g = expect_x(p);
      for (int64_t c = 0; c < D; ++c) g[c] = (g[c] - X[i][c]) / (kTau * N);
      through_norm(q, norm, g, &r.grad_weak[(w * N + i) * D]);
      softmax(q, kTau2, p_w2[w]);
      o_w2[w] = expect_x(p_w2[w]);
    }
    for (int64_t s = 0; s < S; ++s) {
      std::vector<double> q, p;
      double norm = unit(&strong[(s * N + i) * D], q);
      auto [lse, logits] = softmax(q, kTau2, p);
      std::vector<double> o_s = expect_x(p), g(D, 0.0);
      for (int64_t w = 0; w < W; ++w) {
        double ce = 0;  // - sum_j p_w(j) log p_s(j)
        for (int64_t j = 0; j < N + K; ++j) ce -= p_w2[w][j] * (logits[j] - lse);
        r.ddm += ce / N;
        for (int64_t c = 0; c < D; ++c) g[c] += kAlpha * (o_s[c] - o_w2[w][c]) / (kTau2 * N);
      }
      through_norm(q, norm, g, &r.grad_strong[(s * N + i) * D]);
    }
  }
  r.loss = r.nce + kAlpha * r.ddm;
  r.accuracy = double(correct) / double(W * N);
  return r;
}

// Largest |a - b| relative to the largest |b| (floored at 1e-3).
double max_rel_diff(const float* a, const std::vector<double>& b) {
  double diff = 0, scale = 1e-3;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(b[i]));
  }
  return diff / scale;
}

bool compare(const char* where, const float stats[4], const std::vector<float>& gw, const std::vector<float>& gs,
             const Result& ref) {
  const double names_ref[4] = {ref.loss, ref.nce, ref.ddm, ref.accuracy};
  const char* names[4] = {"loss", "nce", "ddm", "accuracy"};
  bool ok = true;
  for (int i = 0; i < 4; ++i) {
    double err = std::fabs(stats[i] - names_ref[i]) / std::max(1.0, std::fabs(names_ref[i]));
    bool good = err < 1e-4;
    ok = ok && good;
    std::printf("  %-8s %s %12.7f  float64 %12.7f  %s\n", names[i], where, stats[i], names_ref[i], good ? "ok" : "MISMATCH");
  }
  double ew = max_rel_diff(gw.data(), ref.grad_weak), es = max_rel_diff(gs.data(), ref.grad_strong);
  bool good = ew < 1e-4 && es < 1e-4;
  ok = ok && good;
  std::printf("  gradients: max relative difference weak %.2e, strong %.2e  %s\n", ew, es, good ? "ok" : "MISMATCH");
  return ok;
}

clsa_head_desc describe(clsa_device device, int32_t index) {
  clsa_head_desc d{};
  d.device = device;
  d.device_index = index;
  d.precision = CLSA_PRECISION_FP32;
  d.normalize = 1;
  d.n = N; d.d = D; d.k = K; d.w = W; d.s = S;
  d.temperature = kTau;
  d.ddm_temperature = kTau2;
  d.ddm_weight = kAlpha;
  d.stream = nullptr;  // the default stream
  return d;
}

bool run_cpu(const std::vector<float>& weak, const std::vector<float>& strong, const std::vector<float>& keys,
             const std::vector<float>& queue, const Result& ref) {
  clsa_head_desc desc = describe(CLSA_DEVICE_CPU, 0);
  std::vector<float> gw(weak.size()), gs(strong.size());
  float stats[4] = {0, 0, 0, 0};
  clsa_head_tensors t{weak.data(), strong.data(), keys.data(), queue.data(), gw.data(), gs.data(), stats};
  // Workspace NULL: the library allocates its O(M*D) scratch itself.
  if (!check(clsa_head_forward_backward(&desc, &t, nullptr, 0), "clsa_head_forward_backward (CPU)")) return false;
  std::printf("CPU:\n");
  return compare("cpu ", stats, gw, gs, ref);
}

bool run_cuda(int32_t index, const std::vector<float>& weak, const std::vector<float>& strong,
              const std::vector<float>& keys, const std::vector<float>& queue, const Result& ref) {
  clsa_head_desc desc = describe(CLSA_DEVICE_CUDA, index);
  const std::vector<float>* host[4] = {&weak, &strong, &keys, &queue};
  const size_t sizes[7] = {weak.size(), strong.size(), keys.size(), queue.size(), weak.size(), strong.size(), 4};
  void* dev[7] = {};
  bool ok = true;
  for (int i = 0; i < 7 && ok; ++i) ok = check(clsa_device_alloc(index, sizes[i] * sizeof(float), &dev[i]), "clsa_device_alloc");
  for (int i = 0; i < 4 && ok; ++i)
    ok = check(clsa_device_copy(index, dev[i], host[i]->data(), sizes[i] * sizeof(float), CLSA_COPY_HOST_TO_DEVICE, nullptr),
               "clsa_device_copy");
  size_t ws_bytes = 0;
  void* ws = nullptr;
  if (ok) ok = check(clsa_head_workspace_size(&desc, &ws_bytes), "clsa_head_workspace_size");
  if (ok && ws_bytes > 0) ok = check(clsa_device_alloc(index, ws_bytes, &ws), "clsa_device_alloc (workspace)");
  std::vector<float> gw(weak.size()), gs(strong.size());
  float stats[4] = {0, 0, 0, 0};
  if (ok) {
    clsa_head_tensors t{(const float*)dev[0], (const float*)dev[1], (const float*)dev[2], (const float*)dev[3],
                        (float*)dev[4], (float*)dev[5], (float*)dev[6]};
    ok = check(clsa_head_forward_backward(&desc, &t, ws, ws_bytes), "clsa_head_forward_backward (CUDA)") &&
         check(clsa_device_copy(index, gw.data(), dev[4], gw.size() * sizeof(float), CLSA_COPY_DEVICE_TO_HOST, nullptr),
               "clsa_device_copy") &&
         check(clsa_device_copy(index, gs.data(), dev[5], gs.size() * sizeof(float), CLSA_COPY_DEVICE_TO_HOST, nullptr),
               "clsa_device_copy") &&
         check(clsa_device_copy(index, stats, dev[6], sizeof stats, CLSA_COPY_DEVICE_TO_HOST, nullptr), "clsa_device_copy");
  }
  if (ok) {
    std::printf("CUDA device %d:\n", index);
    ok = compare("cuda", stats, gw, gs, ref);
  }
  for (void* p : dev) clsa_device_free(index, p);
  clsa_device_free(index, ws);
  return ok;
}

}  // namespace

int main() {
  std::printf("libclsa %s (header %d.%d.%d)\n", clsa_version(), CLSA_VERSION_MAJOR, CLSA_VERSION_MINOR, CLSA_VERSION_PATCH);
  clsa_backend_info info;
  if (!check(clsa_backend_query(&info), "clsa_backend_query")) return 1;
  std::printf("CPU: %d threads, kernels %s; CUDA compiled: %s, state %d (%s)\n", info.cpu_threads, info.cpu_features,
              info.cuda_compiled ? "yes" : "no", info.cuda_state, info.cuda_message);

  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  std::vector<float> weak = random_floats(W * N * D, seed), strong = random_floats(S * N * D, seed),
                     keys = random_floats(N * D, seed), queue = random_floats(K * D, seed);
  // Queue rows are used as given: make them unit rows, as a real queue holds.
  for (int64_t j = 0; j < K; ++j) {
    double n2 = 0;
    for (int64_t c = 0; c < D; ++c) n2 += double(queue[j * D + c]) * queue[j * D + c];
    for (int64_t c = 0; c < D; ++c) queue[j * D + c] = float(queue[j * D + c] / std::sqrt(n2));
  }
  // Weak views near their keys, so the accuracy statistic is not trivially 0.
  for (int64_t w = 0; w < W; ++w)
    for (int64_t i = 0; i < N * D; ++i) weak[w * N * D + i] = keys[i] + 1.5f * weak[w * N * D + i];
  Result ref = naive(weak, strong, keys, queue);

  bool ok = run_cpu(weak, strong, keys, queue, ref);
  if (info.cuda_state == CLSA_CUDA_USABLE) {
    for (int32_t i = 0; i < info.device_count; ++i) {
      std::printf("GPU %d: %s (sm_%d%d)\n", i, info.devices[i].name, info.devices[i].compute_major,
                  info.devices[i].compute_minor);
      ok = run_cuda(i, weak, strong, keys, queue, ref) && ok;
    }
  } else {
    std::printf("CUDA: not used (%s)\n", info.cuda_compiled ? info.cuda_message : "not compiled into this libclsa");
  }
  std::printf("%s\n", ok ? "OK: libclsa agrees with the float64 computation" : "FAILED");
  return ok ? 0 : 1;
}
