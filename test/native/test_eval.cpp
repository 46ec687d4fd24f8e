// Native check of the evaluation C API (clsa/eval.h) as a C/C++ consumer sees it: the fused
// top-k against a float64 brute force on odd shapes, the tie rule, the probe on separable data,
// and the status codes of bad calls. Built with -DCLSA_BUILD_TESTS=ON; exits non-zero on failure.
#include <clsa/clsa.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      ++failures;                                          \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                   \
      std::fprintf(stderr, "\n");                          \
    }                                                      \
  } while (0)

static void topk_case(int64_t nt, int64_t nq, int64_t d, int64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> train(nt * d), test(nq * d);
  for (auto& v : train) v = nd(rng);
  for (auto& v : test) v = nd(rng);
  std::vector<int32_t> idx(nq * k);
  std::vector<float> sim(nq * k);
  clsa_knn_desc desc{};
  desc.device = CLSA_DEVICE_CPU;
  desc.n_train = nt;
  desc.n_test = nq;
  desc.d = d;
  desc.k = k;
  clsa_status s = clsa_knn_topk(&desc, train.data(), test.data(), idx.data(), sim.data());
  CHECK(s == CLSA_OK, "clsa_knn_topk: %s %s", clsa_status_string(s), clsa_last_error());
  double worst = 0;
  for (int64_t i = 0; i < nq; ++i) {
    std::vector<std::pair<double, int64_t>> all(nt);
    double qn = 0;
    for (int64_t c = 0; c < d; ++c) qn += double(test[i * d + c]) * test[i * d + c];
    for (int64_t j = 0; j < nt; ++j) {
      double dot = 0, tn = 0;
      for (int64_t c = 0; c < d; ++c) {
        dot += double(test[i * d + c]) * train[j * d + c];
        tn += double(train[j * d + c]) * train[j * d + c];
      }
      all[j] = {dot / std::sqrt(qn * tn), j};
    }
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (int64_t j = 0; j < k; ++j) worst = std::max(worst, std::fabs(all[j].first - sim[i * k + j]));
  }
  CHECK(worst < 2e-5, "top-k similarities differ from the float64 reference by %g (nt %lld nq %lld d %lld k %lld)", worst,
        (long long)nt, (long long)nq, (long long)d, (long long)k);
}

int main() {
  topk_case(37, 5, 3, 7, 1);
  topk_case(1000, 67, 129, 200, 2);
  topk_case(513, 65, 17, 513, 3);
  topk_case(193, 130, 1025, 1, 4);

  // Ties: equal similarities keep the smaller train index first.
  {
    float train[] = {1, 0, 2, 0, 0, 1, 3, 0};
    float test[] = {1, 0};
    int32_t idx[3];
    float sim[3];
    clsa_knn_desc desc{};
    desc.n_train = 4; desc.n_test = 1; desc.d = 2; desc.k = 3;
    CHECK(clsa_knn_topk(&desc, train, test, idx, sim) == CLSA_OK, "tie case failed");
    CHECK(idx[0] == 0 && idx[1] == 1 && idx[2] == 3, "tie order %d %d %d, expected 0 1 3", idx[0], idx[1], idx[2]);
  }

  // Bad calls return status codes with messages, never crash.
  {
    float x[4] = {1, 2, 3, 4};
    int32_t idx[4];
    float sim[4];
    clsa_knn_desc desc{};
    desc.n_train = 2; desc.n_test = 2; desc.d = 2; desc.k = 3;
    CHECK(clsa_knn_topk(&desc, x, x, idx, sim) == CLSA_ERR_INVALID_ARGUMENT, "k > n_train must be rejected");
    desc.k = 1;
    CHECK(clsa_knn_topk(&desc, nullptr, x, idx, sim) == CLSA_ERR_INVALID_ARGUMENT, "NULL train must be rejected");
    CHECK(clsa_knn_topk(nullptr, x, x, idx, sim) == CLSA_ERR_INVALID_ARGUMENT, "NULL desc must be rejected");
    desc.device = 7;
    CHECK(clsa_knn_topk(&desc, x, x, idx, sim) == CLSA_ERR_INVALID_ARGUMENT, "bad device must be rejected");
    int32_t flag = 1;
    desc.device = CLSA_DEVICE_CPU;
    desc.cancel = &flag;
    CHECK(clsa_knn_topk(&desc, x, x, idx, sim) == CLSA_ERR_CANCELLED, "a set cancel flag must stop the call");
  }

  // The probe separates two well-separated clusters.
  {
    const int64_t n = 200, d = 3;
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    std::vector<float> x(n * d);
    std::vector<int32_t> y(n), order(n * 20);
    for (int64_t i = 0; i < n; ++i) {
      y[i] = int32_t(i % 2);
      for (int64_t c = 0; c < d; ++c) x[i * d + c] = nd(rng) * 0.3f + (y[i] ? 2.0f : -2.0f);
    }
    for (int e = 0; e < 20; ++e)
      for (int64_t i = 0; i < n; ++i) order[e * n + i] = int32_t((i * 37 + e) % n);
    std::vector<float> w(2 * d, 0.0f), b(2, 0.0f), loss(20);
    clsa_probe_desc p{};
    p.n = n; p.d = d; p.classes = 2; p.epochs = 20; p.batch = 32; p.lr = 0.05f; p.weight_decay = 0;
    p.beta1 = 0.9f; p.beta2 = 0.999f; p.eps = 1e-8f;
    clsa_status s = clsa_probe_train(&p, x.data(), y.data(), order.data(), w.data(), b.data(), loss.data());
    CHECK(s == CLSA_OK, "clsa_probe_train: %s %s", clsa_status_string(s), clsa_last_error());
    CHECK(loss[19] < loss[0] && loss[19] < 0.05f, "probe loss %g -> %g", loss[0], loss[19]);
    std::vector<int32_t> pred(n);
    CHECK(clsa_probe_predict(n, d, 2, x.data(), w.data(), b.data(), pred.data()) == CLSA_OK, "predict failed");
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) correct += pred[i] == y[i];
    CHECK(correct == n, "probe accuracy %lld / %lld", (long long)correct, (long long)n);
    y[3] = 2;
    CHECK(clsa_probe_train(&p, x.data(), y.data(), order.data(), w.data(), b.data(), loss.data()) == CLSA_ERR_INVALID_ARGUMENT,
          "a label out of range must be rejected");
  }

  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("test_eval: all checks passed\n");
  return 0;
}
