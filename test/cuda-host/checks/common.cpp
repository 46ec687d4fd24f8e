#include "common.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime_internal.h"

namespace emu_check {

std::mt19937_64 rng;
namespace {
int g_pass = 0, g_fail = 0;
unsigned long long g_seed = 0;
const char* g_program = "";
}  // namespace

void start(const char* program, int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  g_program = program;
  g_seed = std::chrono::system_clock::now().time_since_epoch().count();
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--seed")) g_seed = std::strtoull(argv[i + 1], nullptr, 10);
  rng.seed(g_seed);
  std::printf("%s: data seed %llu (--seed), emulator seed %llu (CLSA_EMU_SEED), sm_%d\n", program, g_seed,
              emu::seed(), emu::arch() / 10);
}

int finish() {
  // A program that ran no check has checked nothing: that is a failure, not a pass.
  const bool ok = g_fail == 0 && g_pass > 0;
  std::printf("%s: %s: %d of %d checks failed%s (data seed %llu, emulator seed %llu)\n", g_program, ok ? "PASS" : "FAIL",
              g_fail, g_pass + g_fail, g_pass + g_fail ? "" : ", none ran", g_seed, emu::seed());
  return ok ? 0 : 1;
}

void record(bool pass, const std::string& what, const std::string& detail) {
  (pass ? g_pass : g_fail)++;
  std::printf("%s  %s%s%s\n", pass ? "PASS" : "FAIL", what.c_str(), detail.empty() ? "" : "  ", detail.c_str());
}

namespace {
template <class R>
void close_any(const std::string& what, const std::vector<R>& ref, const std::vector<float>& got, double tol) {
  if (ref.size() != got.size()) return record(false, what, "size mismatch");
  double maxref = 0, maxerr = 0;
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (std::isfinite(double(ref[i]))) maxref = std::max(maxref, std::fabs(double(ref[i])));
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool rf = std::isfinite(double(ref[i]));
    if (rf != std::isfinite(got[i])) {
      ++bad;
      continue;
    }
    if (!rf) continue;
    const double e = std::fabs(double(got[i]) - double(ref[i]));
    if (e > maxerr) maxerr = e, worst = i;
  }
  const double err = maxref > 0 ? maxerr / maxref : maxerr;
  char d[256];
  std::snprintf(d, sizeof d, "err %.3e (tol %.0e)%s", err, tol, bad ? " NON-FINITE MISMATCH" : "");
  std::string detail = d;
  if (bad || err > tol) {
    std::snprintf(d, sizeof d, "; worst at %zu of %zu: ref %.9g got %.9g", worst, ref.size(), double(ref[worst]),
                  double(got[worst]));
    detail += d;
  }
  record(bad == 0 && err <= tol, what, detail);
}
}  // namespace

void close(const std::string& what, const std::vector<float>& ref, const std::vector<float>& got, double tol) {
  close_any(what, ref, got, tol);
}
void close_d(const std::string& what, const std::vector<double>& ref, const std::vector<float>& got, double tol) {
  close_any(what, ref, got, tol);
}

template <class T>
void same(const std::string& what, const std::vector<T>& ref, const std::vector<T>& got) {
  size_t diff = ref.size() == got.size() ? 0 : 1, first = SIZE_MAX;
  for (size_t i = 0; i < std::min(ref.size(), got.size()); ++i)
    if (std::memcmp(&ref[i], &got[i], sizeof(T)) != 0) {
      if (first == SIZE_MAX) first = i;
      ++diff;
    }
  record(diff == 0, what, diff ? std::to_string(diff) + " elements differ, first at " + std::to_string(first) : "identical");
}
template void same<float>(const std::string&, const std::vector<float>&, const std::vector<float>&);
template void same<int32_t>(const std::string&, const std::vector<int32_t>&, const std::vector<int32_t>&);
template void same<uint8_t>(const std::string&, const std::vector<uint8_t>&, const std::vector<uint8_t>&);

void ok(const std::string& what, clsa_status s) {
  record(s == CLSA_OK, what + " returns CLSA_OK", s == CLSA_OK ? "" : clsa_last_error());
}

std::vector<float> randu(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double rel_norm(const std::vector<float>& a, const std::vector<float>& ref) {
  double e = 0, n = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    e += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    n += double(ref[i]) * ref[i];
  }
  return n > 0 ? std::sqrt(e / n) : std::sqrt(e);
}

double rel_err(double a, double ref) { return std::isfinite(a) ? std::fabs(a - ref) / std::max(std::fabs(ref), 1e-30) : INFINITY; }

void bound(const std::string& what, double err, double tol) {
  char d[96];
  std::snprintf(d, sizeof d, "err %.2e (bound %.0e)", err, tol);
  record(err <= tol, what, d);
}

std::vector<float> model_buffer(clsa_model* m, int32_t b) {
  int64_t count = 0;
  clsa_model_buffer_size(m, b, &count);
  std::vector<float> x(static_cast<size_t>(count));
  clsa_model_get_buffer(m, b, x.data(), count);
  return x;
}

}  // namespace emu_check
