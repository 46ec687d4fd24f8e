// Gradient checks of the encoder's layers against float64 references: each layer's fp32
// forward against a naive float64 forward, its fp32 backward against central finite
// differences of that float64 forward (loss = sum(y * R) for a random R), or at step-like sizes
// against a float64 adjoint; the fused passes (BN statistics from the convolution's output copy,
// the residual gradient through a ReLU) against float64 or bit for bit against their unfused
// form. Random shapes with odd sizes; exits non-zero after counting the failures. Run by
// test/model_layers.test.ts.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "../../native/src/cpu/nn/bn.h"
#include "../../native/src/cpu/nn/conv.h"
#include "../../native/src/cpu/nn/gemm.h"
#include "../../native/src/cpu/nn/layers.h"
#include "../../native/src/model/arch.h"
#include "../../native/src/model/encoder.h"

using namespace clsa::cpu::nn;
using V = std::vector<float>;
using D = std::vector<double>;

static std::mt19937 rng(12345);
static int failures = 0;

static V randv(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> nd(0.0f, scale);
  V v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}
static int rint_(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
static D tod(const V& v) { return D(v.begin(), v.end()); }

// max |a-b| / (atol + rtol * max|b|) <= 1
static void expect_close(const char* what, const V& a, const D& b, double rtol, double atol) {
  double maxref = 0, maxerr = 0;
  for (size_t i = 0; i < b.size(); ++i) maxref = std::fmax(maxref, std::fabs(b[i]));
  for (size_t i = 0; i < b.size(); ++i) maxerr = std::fmax(maxerr, std::fabs(double(a[i]) - b[i]));
  const bool ok = a.size() == b.size() && maxerr <= atol + rtol * maxref;
  std::printf("%s %-48s max err %.3g (ref scale %.3g)\n", ok ? "ok  " : "FAIL", what, maxerr, maxref);
  if (!ok) ++failures;
}

// Central differences of loss(x) = sum(f(x) * r) in float64 with respect to every entry of x.
static D fd_grad(D x, const std::function<D(const D&)>& f, const D& r, double eps = 1e-6) {
  D g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + eps;
    D yp = f(x);
    x[i] = keep - eps;
    D ym = f(x);
    x[i] = keep;
    double s = 0;
    for (size_t j = 0; j < r.size(); ++j) s += (yp[j] - ym[j]) * r[j];
    g[i] = s / (2 * eps);
  }
  return g;
}

// ---- GEMM ------------------------------------------------------------------------------------
// Whether this CPU can run a variant: each is called directly, not through the dispatcher.
static bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static bool has_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"); }

struct GemmVariant {
  const char* name;
  void (*fn)(const GemmArgs&);
  int nr;  // the register tile's width, for B pre-packed as panels
  bool ok;
};
// The GEMM core's instruction-set variants.
static std::vector<GemmVariant> gemm_variants() {
  return {{"generic", generic::gemm, generic::nr(), true},
          {"avx2", avx2::gemm, avx2::nr(), has_avx2()},
          {"avx512", avx512::gemm, avx512::nr(), has_avx512()}};
}

static void check_gemm() {
  std::vector<GemmVariant> variants = gemm_variants();
  variants.insert(variants.begin(), {"dispatch", gemm, int(gemm_nr()), true});
  for (int rep = 0; rep < 12; ++rep) {
    const bool big = rep >= 10;  // crosses every blocking boundary (MC, KC, NC)
    const int m = big ? rint_(130, 200) : rint_(1, 70), n = big ? rint_(2050, 2300) : rint_(1, 90),
              k = big ? rint_(257, 600) : rint_(1, 300);
    const bool ta = rep & 1, tb = rep & 2, acc = rep & 4;
    V a = randv(size_t(m * k)), b = randv(size_t(k * n)), c0 = randv(size_t(m * n));
    D ref(size_t(m * n));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = acc ? c0[size_t(i * n + j)] : 0.0;
        for (int p = 0; p < k; ++p) s += double(ta ? a[size_t(p * m + i)] : a[size_t(i * k + p)]) *
                                         double(tb ? b[size_t(j * k + p)] : b[size_t(p * n + j)]);
        ref[size_t(i * n + j)] = s;
      }
    for (const auto& v : variants) {
      if (!v.ok) continue;
      V c = c0;
      GemmArgs g{m, n, k, a.data(), ta ? 1 : k, ta ? m : 1, b.data(), tb ? 1 : n, tb ? k : 1, c.data(), n, acc};
      v.fn(g);
      char what[96];
      std::snprintf(what, sizeof what, "gemm %dx%dx%d ta=%d tb=%d acc=%d (%s)", m, n, k, ta, tb, acc, v.name);
      expect_close(what, c, ref, 1e-5, 1e-4);
    }
    V c = c0;
    gemm_parallel({m, n, k, a.data(), ta ? 1 : k, ta ? m : 1, b.data(), tb ? 1 : n, tb ? k : 1, c.data(), n, acc});
    expect_close("  gemm_parallel", c, ref, 1e-5, 1e-4);
  }
}

// ---- convolution ---------------------------------------------------------------------------------
static D conv_ref(const ConvShape& s, const D& x, const D& w) {
  const int64_t ho = s.ho(), wo = s.wo();
  D y(size_t(s.cout * s.n * ho * wo), 0.0);
  for (int64_t co = 0; co < s.cout; ++co)
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double acc = 0;
          for (int64_t ci = 0; ci < s.cin; ++ci)
            for (int64_t ky = 0; ky < s.k; ++ky)
              for (int64_t kx = 0; kx < s.k; ++kx) {
                const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += x[size_t(((ci * s.n + n) * s.h + iy) * s.w + ix)] *
                       w[size_t(((co * s.cin + ci) * s.k + ky) * s.k + kx)];
              }
          y[size_t(((co * s.n + n) * ho + oy) * wo + ox)] = acc;
        }
  return y;
}

static void check_conv() {
  const int ks[] = {1, 3, 5};
  for (int rep = 0; rep < 9; ++rep) {
    ConvShape s;
    s.k = ks[rep % 3];
    s.stride = rint_(1, 2);
    s.pad = rint_(0, 2);
    s.cin = rint_(1, 5);
    s.cout = rint_(1, 7);
    if (rep == 0) s.stride = 1, s.pad = 2;  // pad > k-1 at stride 1
    if (rep == 1) s.stride = 1, s.pad = 1;  // stride 1: dX as a transposed convolution
    s.n = 3;
    s.h = rint_(int(std::max<int64_t>(s.k, 5)), 9) | 1;  // odd sizes
    s.w = rint_(int(std::max<int64_t>(s.k, 5)), 10);
    if (s.h + 2 * s.pad < s.k || s.w + 2 * s.pad < s.k) continue;
    V x = randv(size_t(s.cin * s.n * s.h * s.w)), w = randv(size_t(s.cout * s.cin * s.k * s.k));
    const size_t ny = size_t(s.cout * s.n * s.ho() * s.wo());
    V y(ny), r = randv(ny), dx(x.size()), dw(w.size(), 0.0f);
    conv_forward(s, x.data(), w.data(), y.data());
    conv_backward(s, x.data(), w.data(), r.data(), dx.data(), dw.data());
    const D xd = tod(x), wd = tod(w), rd = tod(r);
    char what[96];
    std::snprintf(what, sizeof what, "conv k%lld s%lld p%lld %lldx%lld->%lld %lldx%lld fwd", (long long)s.k,
                  (long long)s.stride, (long long)s.pad, (long long)s.cin, (long long)s.h, (long long)s.cout,
                  (long long)s.ho(), (long long)s.wo());
    expect_close(what, y, conv_ref(s, xd, wd), 1e-5, 1e-5);
    expect_close("  conv dx (finite differences)", dx, fd_grad(xd, [&](const D& v) { return conv_ref(s, v, wd); }, rd),
                 1e-4, 1e-4);
    expect_close("  conv dw (finite differences)", dw, fd_grad(wd, [&](const D& v) { return conv_ref(s, xd, v); }, rd),
                 1e-4, 1e-4);
  }
}


// ---- convolutions at step-like sizes and the row-pointer GEMM behind their dW --------------
// Fresh seed per run (printed, and settable through CLSA_CHECK_SEED to replay a failure): these
// shapes are large enough to cross the K chunks of gemm_nt_rows, several conv chunks per call and
// the padded grid's panel edges; float64 references computed directly (no finite differences).
static std::mt19937 fresh_rng() {
  const char* env = std::getenv("CLSA_CHECK_SEED");
  const unsigned seed = env ? unsigned(std::strtoul(env, nullptr, 10)) : std::random_device{}();
  std::printf("fresh seed %u (CLSA_CHECK_SEED)\n", seed);
  return std::mt19937(seed);
}
// Data for the fresh-seed checks from their own generator: the fixed-seed checks after them
// (the encoder's fp32 finite differences among them, tuned on their draw) keep their inputs.
static V randg(std::mt19937& g, size_t n) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  V v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

static void check_gemm_nt_rows(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  using Fn = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, const float* const*, float*, int64_t, bool);
  const struct {
    const char* name;
    Fn fn;
    bool ok;
  } variants[] = {{"dispatch", gemm_nt_rows, true},
                  {"generic", generic::gemm_nt_rows, true},
                  {"avx2", avx2::gemm_nt_rows, has_avx2()},
                  {"avx512", avx512::gemm_nt_rows, has_avx512()}};
  for (int rep = 0; rep < 6; ++rep) {
    const int m = ri(1, 9), n = ri(1, 40), k = rep < 3 ? ri(1, 40) : ri(2100, 3300);
    const bool acc = rep & 1;
    const int lda = k + ri(0, 5);
    V a = randg(g, size_t(m * lda)), src = randg(g, size_t(k + 3 * n + 7)), c0 = randg(g, size_t(m * n));
    std::vector<const float*> rows(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) rows[size_t(j)] = src.data() + ri(0, 3 * n + 7);  // overlapping slices, as a conv's
    D ref(size_t(m * n));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double sum = acc ? c0[size_t(i * n + j)] : 0.0;
        for (int p = 0; p < k; ++p) sum += double(a[size_t(i * lda + p)]) * double(rows[size_t(j)][p]);
        ref[size_t(i * n + j)] = sum;
      }
    for (const auto& v : variants) {
      if (!v.ok) continue;
      V c = c0;
      v.fn(m, n, k, a.data(), lda, rows.data(), c.data(), n, acc);
      char what[96];
      std::snprintf(what, sizeof what, "gemm_nt_rows %dx%dx%d acc=%d (%s)", m, n, k, acc, v.name);
      expect_close(what, c, ref, 1e-5, 1e-4);
    }
  }
}

// GemmArgs::b_rows (B's rows read in place, as the conv forward does) for every variant: odd
// shapes across MC/KC/NC blocks, rows overlapping slices of one array with slack after them.
static void check_gemm_b_rows(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  const std::vector<GemmVariant> variants = gemm_variants();
  for (int rep = 0; rep < 4; ++rep) {
    const bool big = rep >= 2;
    const int m = big ? ri(130, 200) : ri(1, 30), n = big ? ri(2050, 2300) : ri(1, 90), k = big ? ri(257, 400) : ri(1, 40);
    const bool acc = rep & 1;
    V a = randg(g, size_t(m * k)), src = randg(g, size_t(n + 64 + 3 * k)), c0 = randg(g, size_t(m * n));
    std::vector<const float*> rows(static_cast<size_t>(k));
    for (int p = 0; p < k; ++p) rows[size_t(p)] = src.data() + ri(0, 3 * k);  // n + 64 readable after each
    D ref(size_t(m * n));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double sum = acc ? c0[size_t(i * n + j)] : 0.0;
        for (int p = 0; p < k; ++p) sum += double(a[size_t(i * k + p)]) * double(rows[size_t(p)][j]);
        ref[size_t(i * n + j)] = sum;
      }
    for (const auto& v : variants) {
      if (!v.ok) continue;
      V c = c0;
      GemmArgs ga{m, n, k, a.data(), k, 1, nullptr, 0, 0, c.data(), n, acc};
      ga.b_rows = rows.data();
      v.fn(ga);
      char what[96];
      std::snprintf(what, sizeof what, "gemm b_rows %dx%dx%d acc=%d (%s)", m, n, k, acc, v.name);
      expect_close(what, c, ref, 1e-5, 1e-4);
    }
  }
}

// GemmArgs::a_rows (A's rows read in place, as the conv's weight gradient does) for every variant,
// with B plain or pre-packed (GemmArgs::b_packed): odd shapes across MC/KC/NC blocks and the short
// and narrow edge tiles (M, N not multiples of the register tile), A rows overlapping slices.
static void check_gemm_a_rows(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  const std::vector<GemmVariant> variants = gemm_variants();
  for (int rep = 0; rep < 6; ++rep) {
    const bool big = rep >= 4;
    const int m = big ? ri(130, 300) : ri(1, 41), n = big ? ri(2050, 2200) : ri(1, 70), k = big ? ri(257, 700) : ri(1, 300);
    const bool acc = rep & 1, packed = rep & 2;
    V src = randg(g, size_t(k + 3 * m + 7)), b = randg(g, size_t(k * n)), c0 = randg(g, size_t(m * n));
    std::vector<const float*> rows(static_cast<size_t>(m));
    for (int i = 0; i < m; ++i) rows[size_t(i)] = src.data() + ri(0, 3 * m + 7);  // overlapping, as a conv's
    D ref(size_t(m * n));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double sum = acc ? c0[size_t(i * n + j)] : 0.0;
        for (int p = 0; p < k; ++p) sum += double(rows[size_t(i)][p]) * double(b[size_t(p * n + j)]);
        ref[size_t(i * n + j)] = sum;
      }
    for (const auto& v : variants) {
      if (!v.ok) continue;
      // B as [ceil(n / nr)][k][nr] panels, zero past n
      V panels(size_t((n + v.nr - 1) / v.nr * v.nr) * size_t(k), 0.0f);
      for (int p = 0; p < k; ++p)
        for (int j = 0; j < n; ++j) panels[size_t((j / v.nr) * k * v.nr + p * v.nr + j % v.nr)] = b[size_t(p * n + j)];
      V c = c0;
      GemmArgs ga{m, n, k, nullptr, 0, 0, b.data(), n, 1, c.data(), n, acc};
      ga.a_rows = rows.data();
      if (packed) ga.b_packed = panels.data();
      v.fn(ga);
      char what[112];
      std::snprintf(what, sizeof what, "gemm a_rows %dx%dx%d acc=%d B %s (%s)", m, n, k, acc, packed ? "packed" : "plain",
                    v.name);
      expect_close(what, c, ref, 1e-5, 1e-4);
    }
  }
}

// Every path of the convolution's backward pass at step-like sizes against a float64 adjoint:
// dX by the phases of the stride (stride 1: the flipped kernel; stride 2: one sub-kernel per phase,
// 1x1 ones reading dY in place; pad > k-1), dW as a GEMM over the padded rows (kd >= 16) or by dot
// products (kd < 16), stride-2 padding with even and odd pads (which column parity goes to which
// phase), odd sides, chunk and lane counts that do not divide the batch.
static void check_conv_large(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  const struct {
    int k, stride, pad, cin_lo, cin_hi;
  } cases[] = {{3, 1, 1, 2, 19}, {3, 1, 1, 1, 1}, {5, 1, 2, 2, 13}, {3, 2, 1, 2, 19}, {3, 2, 1, 1, 1},
               {1, 2, 0, 2, 9},  {1, 2, 0, 16, 40}, {1, 1, 0, 16, 33}, {3, 1, 0, 3, 9}, {1, 1, 1, 17, 20},
               {5, 2, 2, 2, 7},  {1, 2, 1, 2, 9},  {3, 2, 0, 2, 9}};
  for (const auto& cs : cases) {
    ConvShape s;
    s.k = cs.k;
    s.pad = cs.pad;
    s.stride = cs.stride;
    s.cin = ri(cs.cin_lo, cs.cin_hi);
    s.cout = ri(3, 21);
    s.n = ri(5, 11);
    s.h = ri(9, 24) | 1;
    s.w = ri(9, 25);
    const int64_t ho = s.ho(), wo = s.wo();
    V x = randg(g, size_t(s.cin * s.n * s.h * s.w)), w = randg(g, size_t(s.cout * s.kdim()));
    const size_t ny = size_t(s.cout * s.n * ho * wo);
    V y(ny), r = randg(g, ny), dx(x.size()), dw0 = randg(g, w.size()), dw = dw0;
    conv_forward(s, x.data(), w.data(), y.data());
    conv_backward(s, x.data(), w.data(), r.data(), dx.data(), dw.data());
    D dxr(x.size(), 0.0), dwr(tod(dw0));  // dw accumulates onto what was there
    for (int64_t co = 0; co < s.cout; ++co)
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t oy = 0; oy < ho; ++oy)
          for (int64_t ox = 0; ox < wo; ++ox) {
            const double gy = r[size_t(((co * s.n + n) * ho + oy) * wo + ox)];
            for (int64_t ci = 0; ci < s.cin; ++ci)
              for (int64_t ky = 0; ky < s.k; ++ky)
                for (int64_t kx = 0; kx < s.k; ++kx) {
                  const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                  if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  const size_t xi = size_t(((ci * s.n + n) * s.h + iy) * s.w + ix);
                  const size_t wi = size_t(((co * s.cin + ci) * s.k + ky) * s.k + kx);
                  dwr[wi] += gy * x[xi];
                  dxr[xi] += gy * w[wi];
                }
          }
    char what[112];
    std::snprintf(what, sizeof what, "conv large k%lld s%lld p%lld %lldx%lldx%lld->%lld n%lld fwd", (long long)s.k,
                  (long long)s.stride, (long long)s.pad, (long long)s.cin, (long long)s.h, (long long)s.w,
                  (long long)s.cout, (long long)s.n);
    expect_close(what, y, conv_ref(s, tod(x), tod(w)), 1e-5, 1e-5);
    expect_close("  conv large dx (float64 adjoint)", dx, dxr, 1e-5, 1e-5);
    std::snprintf(what, sizeof what, "  conv large dw (float64 adjoint; %s)", s.kdim() >= 16 ? "rows GEMM" : "dot products");
    expect_close(what, dw, dwr, 1e-5, 1e-5);
  }
}

// ---- split batch norm ----------------------------------------------------------------------------
static D bn_ref(const BnShape& s, const D& x, const D& g, const D& b, D* means = nullptr, D* vars = nullptr) {
  D y(x.size());
  const int64_t per = s.n / s.groups * s.hw;
  for (int64_t c = 0; c < s.c; ++c)
    for (int64_t gr = 0; gr < s.groups; ++gr) {
      const double* xs = x.data() + c * s.n * s.hw + gr * per;
      double mu = 0, var = 0;
      for (int64_t i = 0; i < per; ++i) mu += xs[i];
      mu /= double(per);
      for (int64_t i = 0; i < per; ++i) var += (xs[i] - mu) * (xs[i] - mu);
      if (means) (*means)[size_t(c * s.groups + gr)] = mu;
      if (vars) (*vars)[size_t(c * s.groups + gr)] = var / double(per - 1);  // unbiased, for running stats
      var /= double(per);
      for (int64_t i = 0; i < per; ++i)
        y[size_t(c * s.n * s.hw + gr * per + i)] = g[size_t(c)] * (xs[i] - mu) / std::sqrt(var + s.eps) + b[size_t(c)];
    }
  return y;
}

static void check_bn() {
  for (int rep = 0; rep < 5; ++rep) {
    BnShape s;
    s.c = rint_(1, 5);
    s.groups = rint_(1, 4);
    s.n = s.groups * rint_(1, 3);
    s.hw = rint_(1, 4) * rint_(1, 5) + (s.n / s.groups == 1 ? 1 : 0);
    s.eps = 1e-5f;
    const size_t count = size_t(s.c * s.n * s.hw);
    V x = randv(count, 2.0f), g = randv(size_t(s.c)), b = randv(size_t(s.c)), r = randv(count);
    for (auto& v : x) v += 0.5f;
    V y(count), mean(size_t(s.c * s.groups)), invstd(mean.size()), rm = randv(size_t(s.c)), rv(size_t(s.c), 1.5f);
    const V rm0 = rm, rv0 = rv;
    bn_forward_train(s, x.data(), g.data(), b.data(), y.data(), mean.data(), invstd.data(), rm.data(), rv.data(), 0.1f);
    D means(mean.size()), vars(mean.size());
    const D xd = tod(x), gd = tod(g), bd = tod(b), rd = tod(r);
    char what[96];
    std::snprintf(what, sizeof what, "split-BN c%lld n%lld hw%lld groups%lld fwd", (long long)s.c, (long long)s.n,
                  (long long)s.hw, (long long)s.groups);
    expect_close(what, y, bn_ref(s, xd, gd, bd, &means, &vars), 1e-5, 1e-5);
    expect_close("  per-group means", mean, means, 1e-5, 1e-6);
    // torch SplitBatchNorm: each group's copy moves by momentum, the copies are averaged.
    D rm_ref(size_t(s.c)), rv_ref(size_t(s.c));
    for (int64_t c = 0; c < s.c; ++c) {
      double am = 0, av = 0;
      for (int64_t gr = 0; gr < s.groups; ++gr) {
        am += 0.9 * rm0[size_t(c)] + 0.1 * means[size_t(c * s.groups + gr)];
        av += 0.9 * rv0[size_t(c)] + 0.1 * vars[size_t(c * s.groups + gr)];
      }
      rm_ref[size_t(c)] = am / double(s.groups);
      rv_ref[size_t(c)] = av / double(s.groups);
    }
    expect_close("  running mean", rm, rm_ref, 1e-5, 1e-6);
    expect_close("  running var (unbiased)", rv, rv_ref, 1e-5, 1e-6);
    V dx(count), dg(size_t(s.c), 0.0f), db(size_t(s.c), 0.0f);
    bn_backward(s, x.data(), g.data(), mean.data(), invstd.data(), r.data(), dx.data(), dg.data(), db.data());
    expect_close("  BN dx (finite differences)", dx, fd_grad(xd, [&](const D& v) { return bn_ref(s, v, gd, bd); }, rd, 1e-5),
                 1e-3, 1e-4);
    expect_close("  BN dgamma", dg, fd_grad(gd, [&](const D& v) { return bn_ref(s, xd, v, bd); }, rd), 1e-4, 1e-4);
    expect_close("  BN dbeta", db, fd_grad(bd, [&](const D& v) { return bn_ref(s, xd, gd, v); }, rd), 1e-4, 1e-4);
    // Fused BN + ReLU: forward clamps, backward masks by the ReLU's output.
    {
      V yr(count), m2(mean.size()), i2(mean.size()), dxr(count), dg2(size_t(s.c), 0.0f), db2(size_t(s.c), 0.0f);
      bn_forward_train(s, x.data(), g.data(), b.data(), yr.data(), m2.data(), i2.data(), nullptr, nullptr, 0.1f, true);
      auto ref = [&](const D& v) {
        D o = bn_ref(s, v, gd, bd);
        for (auto& e : o) e = e > 0 ? e : 0;
        return o;
      };
      expect_close("  BN+ReLU fwd", yr, ref(xd), 1e-5, 1e-5);
      bn_backward(s, x.data(), g.data(), m2.data(), i2.data(), r.data(), dxr.data(), dg2.data(), db2.data(), yr.data());
      expect_close("  BN+ReLU dx (finite differences)", dxr, fd_grad(xd, ref, rd, 1e-5), 1e-3, 1e-4);
    }
    // Evaluation: running statistics, one group.
    V ye(count);
    bn_forward_eval(s, x.data(), g.data(), b.data(), rm.data(), rv.data(), ye.data());
    D ye_ref(count);
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < s.n * s.hw; ++i) {
        const size_t j = size_t(c * s.n * s.hw + i);
        ye_ref[j] = gd[size_t(c)] * (xd[j] - rm[size_t(c)]) / std::sqrt(double(rv[size_t(c)]) + 1e-5) + bd[size_t(c)];
      }
    expect_close("  BN eval (running statistics)", ye, ye_ref, 1e-5, 1e-5);
  }
}

// ---- the fused passes: BN statistics from the convolution's output copy, the residual gradient ---------
// conv_forward's per-image moments against float64 sums of its own output, and batch norm from them
// against the float64 reference on that output (stride 1 and 2, odd sides, several split-BN
// groups; conv outputs shifted off zero so the one-pass variance is exercised); the output itself
// bit-identical with and without the moments. Fresh seed (shared with the checks above).
static void check_conv_bn_moments(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  const int strides[] = {1, 2, 1, 2};
  for (int rep = 0; rep < 4; ++rep) {
    ConvShape s;
    s.k = rep == 3 ? 1 : 3;
    s.pad = s.k / 2;
    s.stride = strides[rep];
    s.cin = ri(1, 9);
    s.cout = ri(2, 11);
    const int64_t groups = ri(1, 3);
    s.n = groups * ri(1, 4);
    s.h = ri(7, 19) | 1;
    s.w = ri(7, 18);
    const int64_t hw = s.ho() * s.wo();
    const size_t ny = size_t(s.cout * s.n * hw);
    V x = randg(g, size_t(s.cin * s.n * s.h * s.w)), w = randg(g, size_t(s.cout * s.kdim()));
    for (auto& v : x) v += 3.0f;  // a mean well away from zero: the variance is a difference of sums
    V y(ny), y_plain(ny);
    std::vector<double> mom(size_t(s.cout * s.n * 2));
    conv_forward(s, x.data(), w.data(), y.data(), Precision::fp32, mom.data());
    conv_forward(s, x.data(), w.data(), y_plain.data());
    D mref(mom.size(), 0.0);
    for (int64_t co = 0; co < s.cout; ++co)
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t p = 0; p < hw; ++p) {
          const double v = y[size_t((co * s.n + i) * hw + p)];
          mref[size_t((co * s.n + i) * 2)] += v;
          mref[size_t((co * s.n + i) * 2 + 1)] += v * v;
        }
    double err = 0, scale = 0;
    for (size_t i = 0; i < mom.size(); ++i) err = std::fmax(err, std::fabs(mom[i] - mref[i])), scale = std::fmax(scale, std::fabs(mref[i]));
    char what[112];
    std::snprintf(what, sizeof what, "conv moments k%lld s%lld %lldx%lldx%lld->%lld n%lld (float64 sums)", (long long)s.k,
                  (long long)s.stride, (long long)s.cin, (long long)s.h, (long long)s.w, (long long)s.cout, (long long)s.n);
    const bool ok = err <= 1e-12 * scale && y == y_plain;
    std::printf("%s %-48s max err %.3g (ref scale %.3g), output bit-identical %s\n", ok ? "ok  " : "FAIL", what, err, scale,
                y == y_plain ? "yes" : "NO");
    if (!ok) ++failures;
    const BnShape b{s.cout, s.n, hw, groups, 1e-5f};
    V gm = randg(g, size_t(s.cout)), bt = randg(g, size_t(s.cout)), out(ny), mean(size_t(s.cout * groups)),
      invstd(mean.size()), rm(size_t(s.cout), 0.0f), rv(size_t(s.cout), 1.0f);
    bn_forward_train(b, y.data(), gm.data(), bt.data(), out.data(), mean.data(), invstd.data(), rm.data(), rv.data(), 0.1f,
                     rep & 1, mom.data());
    D means(mean.size()), vars(mean.size());
    D ref = bn_ref(b, tod(y), tod(gm), tod(bt), &means, &vars);
    if (rep & 1)
      for (auto& e : ref) e = e > 0 ? e : 0;
    expect_close("  BN from the conv's moments (float64 on its output)", out, ref, 1e-5, 1e-5);
    expect_close("  BN from moments: group means", mean, means, 1e-6, 1e-6);
    D rv_ref(size_t(s.cout));
    for (int64_t c = 0; c < s.cout; ++c) {
      double av = 0;
      for (int64_t gr = 0; gr < groups; ++gr) av += 0.9 + 0.1 * vars[size_t(c * groups + gr)];
      rv_ref[size_t(c)] = av / double(groups);
    }
    expect_close("  BN from moments: running var (unbiased)", rv, rv_ref, 1e-5, 1e-6);
  }
}

// The residual gradient through the previous block's ReLU in one pass: the same bits as the add
// followed by the ReLU's backward (and accumulate as a plain add), on lengths around the slab size.
static void check_residual_grad(std::mt19937& g) {
  auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  for (int rep = 0; rep < 3; ++rep) {
    const int64_t n = rep == 0 ? ri(1, 40) : ri(30000, 140000);
    V y = randg(g, size_t(n)), x = randg(g, size_t(n)), ro = randg(g, size_t(n));
    for (auto& v : ro) v = v > 0.3f ? v : 0.0f;  // a ReLU's output: zeros and positives
    V want = y, got = y, sum = y;
    for (int64_t i = 0; i < n; ++i) want[size_t(i)] = ro[size_t(i)] > 0 ? y[size_t(i)] + x[size_t(i)] : 0.0f;
    add_relu_backward(got.data(), x.data(), ro.data(), n);
    accumulate(sum.data(), x.data(), n);
    bool same = got == want;
    for (int64_t i = 0; i < n; ++i) same = same && sum[size_t(i)] == y[size_t(i)] + x[size_t(i)];
    char what[96];
    std::snprintf(what, sizeof what, "residual grad add+ReLU backward n%lld (bit-identical to add, mask)", (long long)n);
    std::printf("%s %s\n", same ? "ok  " : "FAIL", what);
    if (!same) ++failures;
  }
}

// ---- linear, GAP and the MLP projection head --------------------------------------------------------
static D linear_ref(const D& x, int64_t n, int64_t in, int64_t out, const D& w, const D& b) {
  D y(size_t(n * out));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = b[size_t(o)];
      for (int64_t p = 0; p < in; ++p) s += x[size_t(i * in + p)] * w[size_t(o * in + p)];
      y[size_t(i * out + o)] = s;
    }
  return y;
}

static void check_linear_gap_mlp() {
  for (int rep = 0; rep < 3; ++rep) {
    const int64_t n = rint_(1, 5), in = rint_(1, 40), out = rint_(1, 33);
    V x = randv(size_t(n * in)), w = randv(size_t(out * in)), b = randv(size_t(out)), r = randv(size_t(n * out));
    V y(size_t(n * out)), dx(x.size()), dw(w.size(), 0.0f), db(b.size(), 0.0f);
    linear_forward(x.data(), n, in, out, w.data(), b.data(), y.data());
    linear_backward(x.data(), n, in, out, w.data(), r.data(), dx.data(), dw.data(), db.data());
    const D xd = tod(x), wd = tod(w), bd = tod(b), rd = tod(r);
    expect_close("linear fwd", y, linear_ref(xd, n, in, out, wd, bd), 1e-5, 1e-5);
    expect_close("  linear dx", dx, fd_grad(xd, [&](const D& v) { return linear_ref(v, n, in, out, wd, bd); }, rd), 1e-4, 1e-4);
    expect_close("  linear dW", dw, fd_grad(wd, [&](const D& v) { return linear_ref(xd, n, in, out, v, bd); }, rd), 1e-4, 1e-4);
    expect_close("  linear db", db, fd_grad(bd, [&](const D& v) { return linear_ref(xd, n, in, out, wd, v); }, rd), 1e-4, 1e-4);
  }
  {
    const int64_t c = 5, n = 3, hw = 7;
    V x = randv(size_t(c * n * hw)), f(size_t(n * c)), r = randv(size_t(n * c)), dx(x.size());
    gap_forward(x.data(), c, n, hw, f.data());
    gap_backward(r.data(), c, n, hw, dx.data());
    auto ref = [&](const D& v) {
      D o(size_t(n * c), 0.0);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t p = 0; p < hw; ++p) o[size_t(i * c + ch)] += v[size_t((ch * n + i) * hw + p)] / double(hw);
      return o;
    };
    expect_close("GAP fwd", f, ref(tod(x)), 1e-6, 1e-6);
    expect_close("  GAP dx", dx, fd_grad(tod(x), ref, tod(r)), 1e-4, 1e-5);
  }
  // The projection MLP: feat -> fc1 -> ReLU -> fc2, gradients w.r.t. input and both layers.
  {
    const int64_t n = 3, f = 13, h = 11, o = 7;
    V x = randv(size_t(n * f)), w1 = randv(size_t(h * f)), b1 = randv(size_t(h)), w2 = randv(size_t(o * h)),
      b2 = randv(size_t(o)), r = randv(size_t(n * o));
    V h1(size_t(n * h)), z(size_t(n * o)), dh(h1.size()), dx(x.size()), dw1(w1.size(), 0), db1(b1.size(), 0),
        dw2(w2.size(), 0), db2(b2.size(), 0);
    linear_forward(x.data(), n, f, h, w1.data(), b1.data(), h1.data());
    relu_forward(h1.data(), h1.data(), n * h);
    linear_forward(h1.data(), n, h, o, w2.data(), b2.data(), z.data());
    linear_backward(h1.data(), n, h, o, w2.data(), r.data(), dh.data(), dw2.data(), db2.data());
    relu_backward(h1.data(), dh.data(), dh.data(), n * h);
    linear_backward(x.data(), n, f, h, w1.data(), dh.data(), dx.data(), dw1.data(), db1.data());
    const D xd = tod(x), w1d = tod(w1), b1d = tod(b1), w2d = tod(w2), b2d = tod(b2), rd = tod(r);
    auto mlp = [&](const D& xv, const D& w1v, const D& w2v) {
      D hv = linear_ref(xv, n, f, h, w1v, b1d);
      for (auto& v : hv) v = v > 0 ? v : 0;
      return linear_ref(hv, n, h, o, w2v, b2d);
    };
    expect_close("MLP head fwd", z, mlp(xd, w1d, w2d), 1e-5, 1e-5);
    expect_close("  MLP head dx", dx, fd_grad(xd, [&](const D& v) { return mlp(v, w1d, w2d); }, rd), 1e-4, 1e-4);
    expect_close("  MLP head dW1", dw1, fd_grad(w1d, [&](const D& v) { return mlp(xd, v, w2d); }, rd), 1e-4, 1e-4);
    expect_close("  MLP head dW2", dw2, fd_grad(w2d, [&](const D& v) { return mlp(xd, w1d, v); }, rd), 1e-4, 1e-4);
  }
}

// ---- the whole encoder: backward against finite differences of its own fp32 forward -------------------
static void check_encoder() {
  clsa_model_config c;
  clsa_model_config_default(&c);
  c.width = 4;
  c.in_channels = 3;
  c.proj_dim = 5;
  const clsa::model::Arch a = clsa::model::build_arch(c);
  V p(size_t(a.params)), st(size_t(a.stats));
  clsa::model::init_params(a, 7, p.data(), st.data());
  for (auto& v : p) v += 0.05f * randv(1)[0];  // non-trivial BN affine parameters
  const int64_t n = 8, h = 11, w = 12;
  V img = randv(size_t(n * 3 * h * w)), r = randv(size_t(n * c.proj_dim));
  const clsa::model::BnMode mode{true, 2, 0.1f, 1e-5f, false};
  std::unique_ptr<clsa::model::Ops> ops(clsa::model::make_cpu_ops());
  clsa::model::Trace t;
  clsa::model::GradScratch gs;
  clsa::model::encoder_forward(*ops, a, p.data(), st.data(), img.data(), n, h, w, nullptr, mode, true, t);
  V grad(p.size(), 0.0f);
  clsa::model::encoder_backward(*ops, a, p.data(), t, r.data(), grad.data(), gs);
  auto loss = [&](const V& pv) {
    clsa::model::Trace tt;
    clsa::model::encoder_forward(*ops, a, pv.data(), st.data(), img.data(), n, h, w, nullptr, mode, true, tt);
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i) s += double(tt.z.data()[i]) * r[i];
    return s;
  };
  // 60 random parameters, fp32 central differences with a step large enough for fp32.
  V got;
  D want;
  for (int i = 0; i < 60; ++i) {
    const size_t j = size_t(rint_(0, int(a.params - 1)));
    V pp = p;
    const float eps = std::getenv("CLSA_EPS") ? float(std::atof(std::getenv("CLSA_EPS"))) : 5e-4f;
    pp[j] = p[j] + eps;
    const double lp = loss(pp);
    pp[j] = p[j] - eps;
    const double lm = loss(pp);
    if (std::getenv("CLSA_VERBOSE")) std::printf("  param %zu: analytic %g fd %g\n", j, grad[j], (lp - lm) / (2.0 * double(eps)));
    got.push_back(grad[j]);
    want.push_back((lp - lm) / (2.0 * double(eps)));
  }
  expect_close("encoder backward (60 params, fp32 central differences)", got, want, 3e-2, 1e-3);  // ReLU kinks near a perturbed point cost ~1%
}

int main() {
  check_gemm();
  check_conv();
  {
    std::mt19937 g = fresh_rng();
    check_gemm_nt_rows(g);
    check_gemm_b_rows(g);
    check_gemm_a_rows(g);
    check_conv_large(g);
    check_conv_bn_moments(g);
    check_residual_grad(g);
  }
  check_bn();
  check_linear_gap_mlp();
  check_encoder();
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
