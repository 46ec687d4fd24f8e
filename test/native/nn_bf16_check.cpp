// Checks of the bf16 GEMM core and the layers on it (Precision::bf16) against float64 references,
// element by element, with two bounds:
//   - against the exact (unrounded) operands: each operand of a product rounded to bf16 is off by
//     at most u_b = 2^-8 relative (nearest even, 8 significant bits), so a product by at most
//     (2 u_b + u_b^2) |a b|; a sum of K of them by that times S = sum |a_p b_p|, plus the fp32
//     accumulation's gamma(K') (S + |c0|) with gamma(K') = K' u / (1 - K' u), u = 2^-24;
//   - against the operands rounded in software exactly as the kernels round them (nearest even,
//     subnormals to zero): only the fp32 accumulation's gamma(K') (S + |c0|) remains, which pins
//     down the rounding and which K elements were paired.
// And that bf16 really ran: somewhere the error against the exact operands exceeds 1e-5 S, which
// fp32 products (error ~1e-7 S) cannot reach. Odd shapes across every blocking edge (MC, KC, NC,
// the odd K that pads a pair, partial tiles), every operand layout (strided, transposed, rows read
// in place), convolutions through every path (stride 1 and 2 forward, dX by the phases of the
// stride, 1x1 ones reading dY in place, dW by row dot products) and the linear layer. Fresh seed per
// run, printed (CLSA_CHECK_SEED replays it). Then determinism: bit-identical layer results for
// 1, 2, 3 and 5 threads, and the encoder on the bf16 back end beside the fp32 one.
// Where the CPU has no AVX512-BF16 it prints "SKIP" with the reason and exits 0: the jest test
// that runs it (test/model_layers.test.ts) is skipped visibly there.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "../../native/src/cpu/nn/conv.h"
#include "../../native/src/cpu/nn/gemm.h"
#include "../../native/src/cpu/nn/layers.h"
#include "../../native/src/cpu/threadpool.h"
#include "../../native/src/model/arch.h"
#include "../../native/src/model/encoder.h"

using namespace clsa::cpu::nn;
using V = std::vector<float>;
using D = std::vector<double>;

static int failures = 0;
static std::mt19937 rng;

static int ri(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
static V randv(size_t n) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  V v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// As vcvtneps2bf16: nearest even, subnormals to signed zero, NaN quieted.
static float bf16_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  const uint32_t e = u & 0x7f800000u;
  if (e == 0) {
    u &= 0x80000000u;
  } else if (e == 0x7f800000u) {
    u = (u & 0x007fffffu) ? ((u | 0x00400000u) & 0xffff0000u) : (u & 0xffff0000u);
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
  }
  float y;
  std::memcpy(&y, &u, sizeof y);
  return y;
}
static V rounded(const V& v) {
  V r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_round(v[i]);
  return r;
}

constexpr double kUb = 1.0 / 256, kU = 1.0 / 16777216;
static double gamma_(double terms) { return terms * kU / (1 - terms * kU); }

// A float64 reference of one output: the exact value, the value from rounded operands, the sums
// of |products| (exact and rounded operands) and |c0|; K' is the accumulation depth bound.
struct Ref {
  D exact, round, s, sr, c0;
  double depth = 0;
  explicit Ref(size_t n) : exact(n, 0.0), round(n, 0.0), s(n, 0.0), sr(n, 0.0), c0(n, 0.0) {}
  void add(size_t i, double a, double b, double ar, double br) {
    exact[i] += a * b;
    round[i] += ar * br;
    s[i] += std::fabs(a * b);
    sr[i] += std::fabs(ar * br);
  }
  void start(size_t i, double c) {  // an fp32 value the result accumulates onto (bias, c0, dw0)
    exact[i] = round[i] = c;
    c0[i] = std::fabs(c);
  }
};

static double worst_ratio = 0;  // max over every check of |got - exact| / S

static void expect_bf16(const char* what, const V& got, const Ref& r) {
  const double g = gamma_(r.depth);
  double worst_exact = 0, worst_round = 0, ratio = 0;
  size_t bad = got.size() == r.exact.size() ? SIZE_MAX : 0;
  for (size_t i = 0; i < r.exact.size() && got.size() == r.exact.size(); ++i) {
    const double e1 = std::fabs(double(got[i]) - r.exact[i]), e2 = std::fabs(double(got[i]) - r.round[i]);
    const double b1 = (2 * kUb + kUb * kUb) * r.s[i] + g * ((1 + kUb) * (1 + kUb) * r.s[i] + r.c0[i]);
    const double b2 = g * (r.sr[i] + r.c0[i]);
    worst_exact = std::fmax(worst_exact, b1 > 0 ? e1 / b1 : (e1 > 0 ? 1e30 : 0));
    worst_round = std::fmax(worst_round, b2 > 0 ? e2 / b2 : (e2 > 0 ? 1e30 : 0));
    if (r.s[i] > 0) ratio = std::fmax(ratio, e1 / r.s[i]);
    if ((!(e1 <= b1) || !(e2 <= b2)) && bad == SIZE_MAX) bad = i;
  }
  worst_ratio = std::fmax(worst_ratio, ratio);
  const bool ok = bad == SIZE_MAX;
  std::printf("%s %-52s err/bound %.3f (bf16), %.3f (rounded operands); max err/S %.2e\n", ok ? "ok  " : "FAIL", what,
              worst_exact, worst_round, ratio);
  if (!ok) {
    if (bad < got.size())
      std::printf("     first bad element %zu: got %.9g, exact %.9g, rounded-operand %.9g, S %.3g\n", bad,
                  double(got[bad]), r.exact[bad], r.round[bad], r.s[bad]);
    ++failures;
  }
}

static void expect(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

// ---- the GEMM core, every operand layout ------------------------------------------------------
static void check_gemm() {
  for (int rep = 0; rep < 14; ++rep) {
    const bool big = rep >= 10;  // crosses MC (128), KC (256) and NC (2048)
    const int m = big ? ri(130, 200) : ri(1, 70), n = big ? ri(2050, 2300) : ri(1, 90),
              k = big ? ri(257, 600) | 1 : ri(1, 300);  // odd K pads the last pair
    const int mode = rep % 4;  // 0: plain, 1: A transposed, 2: B transposed (columns), 3: B rows in place
    const bool ta = mode == 1, tb = mode == 2, rows = mode == 3, acc = rep & 4;
    V a = randv(size_t(m * k)), b = randv(size_t(k * n + n + 64)), c0 = randv(size_t(m * n));
    const V ar = rounded(a), br = rounded(b);
    std::vector<const float*> bptr(static_cast<size_t>(k));
    std::vector<int> boff(static_cast<size_t>(k));
    for (int p = 0; p < k; ++p) boff[size_t(p)] = rows ? ri(0, k * n) : p * n;  // rows: overlapping slices
    for (int p = 0; p < k; ++p) bptr[size_t(p)] = b.data() + boff[size_t(p)];
    Ref ref(size_t(m * n));
    ref.depth = k + 8;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        const size_t o = size_t(i * n + j);
        if (acc) ref.start(o, c0[o]);
        for (int p = 0; p < k; ++p) {
          const size_t ai = ta ? size_t(p * m + i) : size_t(i * k + p);
          const size_t bi = tb ? size_t(j * k + p) : size_t(boff[size_t(p)] + j);
          ref.add(o, a[ai], b[bi], ar[ai], br[bi]);
        }
      }
    V c = c0;
    GemmArgs g{m, n, k, a.data(), ta ? 1 : k, ta ? m : 1, b.data(), tb ? 1 : n, tb ? k : 1, c.data(), n, acc};
    g.precision = Precision::bf16;
    if (rows) g.b_rows = bptr.data();
    gemm(g);
    static const char* kMode[] = {"", " A^T", " B^T", " B rows"};
    char what[96];
    std::snprintf(what, sizeof what, "bf16 gemm %dx%dx%d%s acc=%d", m, n, k, kMode[mode], acc);
    expect_bf16(what, c, ref);
    if (!rows) {
      V cp = c0;
      g.c = cp.data();
      gemm_parallel(g);
      expect_bf16("  bf16 gemm_parallel", cp, ref);
    }
  }
}

// ---- row dot products (the convolutions' dW) ----------------------------------------------------
static void check_nt_rows() {
  for (int rep = 0; rep < 6; ++rep) {
    const int m = ri(1, 9), n = ri(1, 40), k = rep < 3 ? ri(1, 70) : ri(2100, 4500);  // > 2048: K chunks
    const bool acc = rep & 1;
    const int lda = k + ri(0, 5);
    V a = randv(size_t(m * lda)), src = randv(size_t(k + 3 * n + 7)), c0 = randv(size_t(m * n));
    const V ar = rounded(a), sr = rounded(src);
    std::vector<bf16_t> ah(a.size()), sh(src.size());
    to_bf16(a.data(), ah.data(), int64_t(a.size()));
    to_bf16(src.data(), sh.data(), int64_t(src.size()));
    std::vector<const bf16_t*> rows(static_cast<size_t>(n));
    std::vector<int> off(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) off[size_t(j)] = ri(0, 3 * n + 7), rows[size_t(j)] = sh.data() + off[size_t(j)];  // odd offsets too
    Ref ref(size_t(m * n));
    ref.depth = k + 8;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        const size_t o = size_t(i * n + j);
        if (acc) ref.start(o, c0[o]);
        for (int p = 0; p < k; ++p) {
          const size_t ai = size_t(i * lda + p), bi = size_t(off[size_t(j)] + p);
          ref.add(o, a[ai], src[bi], ar[ai], sr[bi]);
        }
      }
    V c = c0;
    gemm_nt_rows_bf16(m, n, k, ah.data(), lda, rows.data(), c.data(), n, acc);
    char what[96];
    std::snprintf(what, sizeof what, "bf16 gemm_nt_rows %dx%dx%d acc=%d", m, n, k, acc);
    expect_bf16(what, c, ref);
  }
  // to_bf16 against the software rounding, every tail length, ties and subnormals included.
  V x = randv(77);
  x[3] = 1.0f + 1.0f / 256;             // a tie: rounds to even (1.0)
  x[4] = 1.0f + 3.0f / 256;             // a tie: rounds to even (1 + 4/256)
  x[5] = 1e-40f;                        // subnormal: zero
  x[6] = -3e38f;                        // near the largest finite bf16
  bool same = true;
  for (int len = 0; len <= 77; ++len) {
    std::vector<bf16_t> h(size_t(len) + 1, 0xabcd);
    to_bf16(x.data(), h.data(), len);
    for (int i = 0; i < len; ++i) {
      const float r = bf16_round(x[size_t(i)]);
      uint32_t u;
      std::memcpy(&u, &r, sizeof u);
      same = same && h[size_t(i)] == bf16_t(u >> 16);
    }
    same = same && h[size_t(len)] == 0xabcd;  // nothing written past the end
  }
  expect(same, "to_bf16 = nearest-even rounding (ties, subnormals, every tail length, nothing past the end)");
}

// ---- convolutions ---------------------------------------------------------------------------------
static void check_conv() {
  struct Case {
    int k, stride, pad;
  } cases[] = {{3, 1, 1}, {3, 2, 1}, {5, 1, 2}, {1, 2, 0}, {1, 1, 1} /* pad > k-1 */, {3, 1, 0}, {5, 2, 2}};
  for (const Case& cs : cases) {
    ConvShape s;
    s.k = cs.k;
    s.stride = cs.stride;
    s.pad = cs.pad;
    s.cin = ri(2, 19);
    s.cout = ri(3, 21);
    s.n = ri(5, 11);
    s.h = ri(9, 24) | 1;
    s.w = ri(9, 25);
    const int64_t ho = s.ho(), wo = s.wo();
    V x = randv(size_t(s.cin * s.n * s.h * s.w)), w = randv(size_t(s.cout * s.kdim()));
    const size_t ny = size_t(s.cout * s.n * ho * wo);
    V y(ny), r = randv(ny), dx(x.size()), dw0 = randv(w.size()), dw = dw0;
    const V xr = rounded(x), wr = rounded(w), rr = rounded(r);
    conv_forward(s, x.data(), w.data(), y.data(), Precision::bf16);
    conv_backward(s, x.data(), w.data(), r.data(), dx.data(), dw.data(), Precision::bf16);
    Ref fy(ny), fdx(x.size()), fdw(w.size());
    fy.depth = double(s.kdim()) + 8;
    fdx.depth = double(s.cout * s.k * s.k + s.cout) + 8;
    fdw.depth = double(s.n * (s.h + 2 * s.pad + 2) * (s.w + 2 * s.pad + 2)) + 64;
    for (size_t i = 0; i < w.size(); ++i) fdw.start(i, dw0[i]);
    for (int64_t co = 0; co < s.cout; ++co)
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t oy = 0; oy < ho; ++oy)
          for (int64_t ox = 0; ox < wo; ++ox) {
            const size_t yi = size_t(((co * s.n + n) * ho + oy) * wo + ox);
            for (int64_t ci = 0; ci < s.cin; ++ci)
              for (int64_t ky = 0; ky < s.k; ++ky)
                for (int64_t kx = 0; kx < s.k; ++kx) {
                  const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
                  if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  const size_t xi = size_t(((ci * s.n + n) * s.h + iy) * s.w + ix);
                  const size_t wi = size_t(((co * s.cin + ci) * s.k + ky) * s.k + kx);
                  fy.add(yi, x[xi], w[wi], xr[xi], wr[wi]);
                  fdx.add(xi, r[yi], w[wi], rr[yi], wr[wi]);
                  // dW with 16 or more weights per output channel is an fp32 GEMM (conv.cpp,
                  // weight_grad_transposed): held to fp32's bound on the unrounded operands.
                  if (s.kdim() >= 16) fdw.add(wi, r[yi], x[xi], r[yi], x[xi]);
                  else fdw.add(wi, r[yi], x[xi], rr[yi], xr[xi]);
                }
          }
    char what[96];
    std::snprintf(what, sizeof what, "bf16 conv k%d s%d p%d %lldx%lldx%lld->%lld n%lld fwd", cs.k, cs.stride, cs.pad,
                  (long long)s.cin, (long long)s.h, (long long)s.w, (long long)s.cout, (long long)s.n);
    expect_bf16(what, y, fy);
    expect_bf16("  bf16 conv dx", dx, fdx);
    expect_bf16("  bf16 conv dw (accumulated onto dw)", dw, fdw);
  }
}

// ---- the linear layer -------------------------------------------------------------------------------
static void check_linear() {
  for (int rep = 0; rep < 4; ++rep) {
    const bool big = rep >= 2;  // large enough for gemm_parallel to split it
    const int64_t n = big ? ri(200, 300) : ri(1, 9), in = big ? ri(300, 600) : ri(1, 70), out = big ? ri(100, 160) : ri(1, 40);
    V x = randv(size_t(n * in)), w = randv(size_t(out * in)), b = randv(size_t(out)), r = randv(size_t(n * out));
    V y(size_t(n * out)), dx(x.size()), dw0 = randv(w.size()), dw = dw0, db(b.size(), 0.0f);
    const V xr = rounded(x), wr = rounded(w), rr = rounded(r);
    linear_forward(x.data(), n, in, out, w.data(), b.data(), y.data(), Precision::bf16);
    linear_backward(x.data(), n, in, out, w.data(), r.data(), dx.data(), dw.data(), db.data(), Precision::bf16);
    Ref fy(y.size()), fdx(x.size()), fdw(w.size()), fdb(b.size());
    fy.depth = double(in) + 8;
    fdx.depth = double(out) + 8;
    fdw.depth = double(n) + 8;
    fdb.depth = double(n) + 8;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < out; ++o) fy.start(size_t(i * out + o), b[size_t(o)]);
    for (size_t i = 0; i < w.size(); ++i) fdw.start(i, dw0[i]);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t o = 0; o < out; ++o) {
        const size_t yi = size_t(i * out + o);
        for (int64_t p = 0; p < in; ++p) {
          const size_t xi = size_t(i * in + p), wi = size_t(o * in + p);
          fy.add(yi, x[xi], w[wi], xr[xi], wr[wi]);
          fdx.add(xi, r[yi], w[wi], rr[yi], wr[wi]);
          fdw.add(wi, r[yi], x[xi], rr[yi], xr[xi]);
        }
        // db is summed in fp32 from the unrounded gradient: its "rounded operands" are exact.
        fdb.add(size_t(o), r[yi], 1.0, r[yi], 1.0);
      }
    char what[96];
    std::snprintf(what, sizeof what, "bf16 linear n%lld %lld->%lld fwd (bias in fp32)", (long long)n, (long long)in,
                  (long long)out);
    expect_bf16(what, y, fy);
    expect_bf16("  bf16 linear dx", dx, fdx);
    expect_bf16("  bf16 linear dW (accumulated onto dW)", dw, fdw);
    expect_bf16("  linear db (fp32)", db, fdb);
  }
}

// ---- determinism: the same bits for any thread count --------------------------------------------------
static void check_threads() {
  ConvShape s{8, 11, 3, 1, 1, 16, 15, 15};  // 16 images, several chunks and dW lanes
  ConvShape s2{11, 13, 3, 2, 1, 16, 15, 15};  // stride 2: dX by four phase GEMMs
  V x = randv(size_t(s.cin * s.n * s.h * s.w)), w = randv(size_t(s.cout * s.kdim()));
  V r = randv(size_t(s.cout * s.n * s.ho() * s.wo()));
  V x2 = randv(size_t(s2.cin * s2.n * s2.h * s2.w)), w2 = randv(size_t(s2.cout * s2.kdim()));
  V r2 = randv(size_t(s2.cout * s2.n * s2.ho() * s2.wo()));
  const int64_t ln = 256, lin = 300, lout = 130;  // linear, big enough to be split over the pool
  V lx = randv(size_t(ln * lin)), lw = randv(size_t(lout * lin)), lb = randv(size_t(lout)), lr = randv(size_t(ln * lout));
  auto run = [&](int threads) {
    clsa::cpu::set_pool_threads(threads);
    V y(r.size()), dx(x.size()), dw(w.size(), 0.0f), y2(r2.size()), dx2(x2.size()), dw2(w2.size(), 0.0f);
    V ly(size_t(ln * lout)), ldx(lx.size()), ldw(lw.size(), 0.0f), ldb(lb.size(), 0.0f);
    conv_forward(s, x.data(), w.data(), y.data(), Precision::bf16);
    conv_backward(s, x.data(), w.data(), r.data(), dx.data(), dw.data(), Precision::bf16);
    conv_forward(s2, x2.data(), w2.data(), y2.data(), Precision::bf16);
    conv_backward(s2, x2.data(), w2.data(), r2.data(), dx2.data(), dw2.data(), Precision::bf16);
    linear_forward(lx.data(), ln, lin, lout, lw.data(), lb.data(), ly.data(), Precision::bf16);
    linear_backward(lx.data(), ln, lin, lout, lw.data(), lr.data(), ldx.data(), ldw.data(), ldb.data(), Precision::bf16);
    std::vector<V> all{y, dx, dw, y2, dx2, dw2, ly, ldx, ldw, ldb};
    return all;
  };
  const std::vector<V> one = run(1);
  for (int t : {2, 3, 5}) {
    const std::vector<V> other = run(t);
    bool same = true;
    for (size_t i = 0; i < one.size(); ++i)
      same = same && std::memcmp(one[i].data(), other[i].data(), one[i].size() * sizeof(float)) == 0;
    char what[128];
    std::snprintf(what, sizeof what, "bf16 conv (s1, s2) and linear, forward and backward: %d threads = 1 thread, bit for bit", t);
    expect(same, what);
  }
  clsa::cpu::set_pool_threads(0);
}

// ---- the encoder on the bf16 back end beside the fp32 one -----------------------------------------------
// The whole network cannot be held to a per-element bound: a ReLU whose input sits within bf16's
// rounding of zero switches its gradient on or off, a jump no bound on the operands covers. So
// the bf16 encoder is measured against what such noise does to fp32 itself: its embedding and
// parameter gradient may differ from the fp32 encoder's by no more than a few times as much as the
// fp32 encoder's own move when every parameter is perturbed by relative noise of bf16's size
// (2^-8) - and must differ (the back end really rounds).
static void check_encoder() {
  clsa_model_config c;
  clsa_model_config_default(&c);
  c.width = 8;
  c.proj_dim = 16;
  const clsa::model::Arch a = clsa::model::build_arch(c);
  V p(size_t(a.params)), st(size_t(a.stats));
  clsa::model::init_params(a, 11, p.data(), st.data());
  const int64_t n = 16, h = 13, w = 14;
  V img = randv(size_t(n * 3 * h * w)), dz = randv(size_t(n * c.proj_dim));
  const clsa::model::BnMode mode{true, 4, 0.1f, 1e-5f, false};
  auto run = [&](int32_t precision, const V& params, V& z, V& grad) {
    std::unique_ptr<clsa::model::Ops> ops(clsa::model::make_cpu_ops(precision));
    clsa::model::Trace t;
    clsa::model::GradScratch gs;
    V stats = st;
    clsa::model::encoder_forward(*ops, a, params.data(), stats.data(), img.data(), n, h, w, nullptr, mode, true, t);
    z.assign(t.z.data(), t.z.data() + n * c.proj_dim);
    grad.assign(params.size(), 0.0f);
    clsa::model::encoder_backward(*ops, a, params.data(), t, dz.data(), grad.data(), gs);
  };
  auto rel = [](const V& x, const V& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) num += double(x[i] - ref[i]) * (x[i] - ref[i]), den += double(ref[i]) * ref[i];
    return std::sqrt(num / den);
  };
  V z32, g32, z16, g16;
  run(CLSA_PRECISION_FP32, p, z32, g32);
  run(CLSA_PRECISION_BF16, p, z16, g16);
  double nz = 0, ng = 0;  // the fp32 encoder's move under bf16-sized parameter noise, worst of 3 draws
  for (int rep = 0; rep < 3; ++rep) {
    V pp = p, zp, gp;
    std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
    for (auto& v : pp) v *= 1.0f + float(kUb) * ud(rng);
    run(CLSA_PRECISION_FP32, pp, zp, gp);
    nz = std::fmax(nz, rel(zp, z32));
    ng = std::fmax(ng, rel(gp, g32));
  }
  const double rz = rel(z16, z32), rg = rel(g16, g32);
  char what[200];
  std::snprintf(what, sizeof what,
                "encoder, bf16 vs fp32 back end: embedding rel. diff %.2e, gradient %.2e (fp32 under 2^-8 noise: %.2e, %.2e)",
                rz, rg, nz, ng);
  expect(rz > 1e-5 && rg > 1e-5 && rz < 4 * nz && rg < 4 * ng, what);
}

int main() {
  if (!gemm_bf16_supported()) {
    std::printf("SKIP bf16 checks: AVX512-BF16, which %s\nall passed (skipped)\n", gemm_bf16_unsupported_reason());
    return 0;
  }
  const char* env = std::getenv("CLSA_CHECK_SEED");
  const unsigned seed = env ? unsigned(std::strtoul(env, nullptr, 10)) : std::random_device{}();
  std::printf("fresh seed %u (CLSA_CHECK_SEED)\n", seed);
  rng.seed(seed);
  check_gemm();
  check_nt_rows();
  check_conv();
  check_linear();
  expect(worst_ratio > 1e-5, "bf16 rounding is visible (max err/S above 1e-5; fp32 products stay near 1e-7)");
  check_threads();
  check_encoder();
  if (failures) std::printf("seed %u: replay with CLSA_CHECK_SEED=%u\n", seed, seed);
  std::printf(failures ? "%d FAILED\n" : "all passed\n", failures);
  return failures ? 1 : 0;
}
