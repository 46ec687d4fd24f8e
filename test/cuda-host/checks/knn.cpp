// kNN top-k (cuda/knn.cu) under the emulator against the CPU twin, with bench/gpu/knn_check.js's
// criteria: similarities within 1e-4, each row sorted descending, index sets differing from the
// CPU's only at near-ties (at most max(1, 0.1%) of the entries). Shapes: partial train tiles
// (n_train not a multiple of 256), partial row blocks (n_test not a multiple of 8), k = 1 and
// k = n_train, d below and above a warp's 32 lanes, and exact duplicates (the tie rule: the smaller
// train index wins, so on duplicates the indices must match the CPU's exactly).
#include <set>

#include "common.h"

using namespace emu_check;
using V = std::vector<float>;

namespace {

void check(int64_t nt, int64_t nq, int64_t d, int64_t k, bool duplicates) {
  V train = randu(size_t(nt * d), -0.5f, 0.5f), test = randu(size_t(nq * d), -0.5f, 0.5f);
  if (duplicates)  // every train row repeated 3 times: similarities tie exactly
    for (int64_t r = 0; r < nt; ++r)
      for (int64_t c = 0; c < d; ++c) train[size_t(r * d + c)] = train[size_t((r / 3) * d + c)];
  const std::string name = "knn train " + std::to_string(nt) + " test " + std::to_string(nq) + " d " +
                           std::to_string(d) + " k " + std::to_string(k) + (duplicates ? " duplicates" : "");
  clsa_knn_desc desc{};
  desc.device = CLSA_DEVICE_CPU;
  desc.n_train = nt, desc.n_test = nq, desc.d = d, desc.k = k;
  std::vector<int32_t> ci(size_t(nq * k)), gi(size_t(nq * k));
  V cs(size_t(nq * k)), gs;
  ok("cpu " + name, clsa_knn_topk(&desc, train.data(), test.data(), ci.data(), cs.data()));
  Dev<float> dtr(train), dte(test), dsim(size_t(nq * k));
  Dev<int32_t> didx(size_t(nq * k));
  desc.device = CLSA_DEVICE_CUDA;
  ok("cuda " + name, clsa_knn_topk(&desc, dtr.p, dte.p, didx.p, dsim.p));
  gs = dsim.down();
  gi = didx.down();
  bool sorted = true;
  size_t set_diff = 0;
  for (int64_t r = 0; r < nq; ++r) {
    for (int64_t j = 1; j < k; ++j) sorted &= gs[size_t(r * k + j)] <= gs[size_t(r * k + j - 1)];
    const std::set<int32_t> a(ci.begin() + r * k, ci.begin() + (r + 1) * k);
    for (int64_t j = 0; j < k; ++j) set_diff += !a.count(gi[size_t(r * k + j)]);
  }
  close(name + " similarities", cs, gs, 1e-4);
  record(sorted, name + " sorted descending");
  const size_t allowed = duplicates ? 0 : std::max<size_t>(1, size_t(double(nq * k) * 1e-3));
  record(set_diff <= allowed, name + " neighbour sets",
         std::to_string(set_diff) + " differ (allowed " + std::to_string(allowed) + ")");
  if (duplicates) same(name + " indices (tie rule)", ci, gi);
}

}  // namespace

int main(int argc, char** argv) {
  start("emu_knn", argc, argv);
  check(37, 5, 3, 7, false);
  check(300, 13, 40, 1, false);
  check(513, 9, 17, 60, false);   // three train tiles, the last partial
  check(70, 3, 33, 70, false);    // k = n_train
  check(290, 11, 8, 20, true);
  return finish();
}
