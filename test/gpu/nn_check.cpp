// nn_check: every CUDA layer kernel of native/src/cuda/nn against its CPU twin (cpu/nn/*.h),
// then CUDA-event timings of the convolutions at ResNet-18 small-image shapes, batch 256.
//
// For each function and several shapes (odd ones that divide no tile size, 1x1 and stride-2
// shortcuts, ResNet-like ones): fresh random inputs (seed from the clock, printed; --seed S
// repeats a run), outputs poisoned with NaN before each GPU call (accumulating outputs instead
// start from the same random values on both sides), the CPU twin and the CUDA function on the
// same inputs, and max |gpu - cpu| / max |cpu| per output against a tolerance: 1e-4 for fp32
// GEMM layers (convolution, linear), 3e-3 for tf32, 1e-5 for everything else (batch norm and its
// running statistics, element-wise, pooling, layout, sgd). A NaN or infinity left in an output
// (poison not overwritten, or a bad value) fails the check whatever the error. Also checked:
// run-to-run determinism (bitwise) of the split-K weight gradient, batch norm and pooling, and
// that a too-small convolution workspace is refused.
//
// Exit status: 0 all passed, 1 a check failed (or a CUDA error), 3 no usable CUDA device.
// Usage: nn_check [--seed S] [--no-bench] [--quick] [--max-work W]   (--quick: small shapes only, no
// timings; --max-work: --quick with shapes up to W multiply-adds instead of 1e7)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "clsa/clsa.h"
#include "cpu/nn/bn.h"
#include "cpu/nn/conv.h"
#include "cpu/nn/layers.h"
#include "cuda/nn/nn.h"

namespace cnn = clsa::cuda::nn;
namespace cpu = clsa::cpu::nn;
using clsa::nn::BnShape;
using clsa::nn::ConvShape;
using V = std::vector<float>;

namespace {

constexpr double kTolGemm = 1e-4, kTolTf32 = 3e-3, kTolExact = 1e-5;

std::mt19937_64 rng;
unsigned long long g_seed = 0;
cudaStream_t g_stream = nullptr;
bool g_tf32 = false;  // device can run the TF32 path (sm_80+)
bool g_quick = false;  // --quick: skip the large shapes (work above g_max_work)
double g_max_work = 1e7;  // --max-work W: a smaller limit (the emulated run in test/cuda-host)
bool skip(double work) { return g_quick && work > g_max_work; }

// ---- results ------------------------------------------------------------------------------------
struct Check {
  std::string group, name;
  double err, tol;
  bool pass;
};
std::vector<Check> g_checks;

void record(const std::string& group, const std::string& name, double err, double tol, bool pass,
            const std::string& note = "") {
  g_checks.push_back({group, name, err, tol, pass});
  std::printf("%s  %-13s %-62s err %.3e (tol %.0e)%s%s\n", pass ? "PASS" : "FAIL", group.c_str(), name.c_str(), err,
              tol, note.empty() ? "" : "  ", note.c_str());
}

void summary() {
  // Per group: counts, and the check with the largest err / tol (bitwise checks: tol 0, err = the
  // number of differing elements).
  struct Agg {
    int pass = 0, fail = 0;
    double worst = -1, err = 0, tol = 0;
  };
  std::map<std::string, Agg> by;
  std::vector<std::string> order;
  for (const Check& c : g_checks) {
    if (!by.count(c.group)) order.push_back(c.group);
    Agg& a = by[c.group];
    (c.pass ? a.pass : a.fail)++;
    const double r = std::isnan(c.err) ? INFINITY : c.tol > 0 ? c.err / c.tol : c.err;
    if (r > a.worst) a.worst = r, a.err = c.err, a.tol = c.tol;
  }
  int fails = 0;
  std::printf("\n== summary (seed %llu)\n%-14s %6s %6s  %-12s %s\n", g_seed, "group", "pass", "fail", "worst err",
              "its tol");
  for (const std::string& g : order) {
    const Agg& a = by[g];
    fails += a.fail;
    std::printf("%-14s %6d %6d  %-12.3e %.0e\n", g.c_str(), a.pass, a.fail, a.err, a.tol);
  }
  // No check run is a failure too: it has checked nothing.
  std::printf("%s: %d of %zu checks failed%s\n", fails || g_checks.empty() ? "FAIL" : "PASS", fails, g_checks.size(),
              g_checks.empty() ? ", none ran" : "");
}

[[noreturn]] void fatal_cuda(const char* what, cudaError_t e) {
  std::printf("FATAL  CUDA error in %s: %s (%s)\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
  summary();
  std::printf("FAIL: stopped at a CUDA error (seed %llu)\n", g_seed);
  std::exit(1);
}

#define CK(call)                                   \
  do {                                             \
    cudaError_t ck_e_ = (call);                    \
    if (ck_e_ != cudaSuccess) fatal_cuda(#call, ck_e_); \
  } while (0)

// After a library call: its status, then the stream (kernel faults surface here).
bool ok_call(clsa_status s, const std::string& group, const std::string& what) {
  CK(cudaStreamSynchronize(g_stream));
  CK(cudaGetLastError());
  if (s != CLSA_OK) {
    record(group, what + " returned " + clsa_status_string(s), NAN, 0, false, clsa_last_error());
    return false;
  }
  return true;
}

// ---- device buffers -------------------------------------------------------------------------------
// A device array of n floats at an offset of `skew` floats from a 256-byte aligned allocation
// (skew 1 makes every float4 path fall back to its scalar one).
struct Dev {
  float* base = nullptr;
  float* p = nullptr;
  size_t n = 0;
  Dev() = default;
  explicit Dev(size_t count, int skew = 0) : n(count) {
    CK(cudaMalloc(&base, std::max<size_t>(1, count + size_t(skew)) * sizeof(float)));
    p = base + skew;
  }
  Dev(const V& h, int skew = 0) : Dev(h.size(), skew) { up(h); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() {
    if (base) cudaFree(base);
  }
  void up(const V& h) { CK(cudaMemcpy(p, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice)); }
  V down() const {
    V h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
  }
  void poison() { CK(cudaMemset(p, 0xFF, n * sizeof(float))); }  // 0xFFFFFFFF is a NaN
};

V randu(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  V v(n);
  for (float& x : v) x = d(rng);
  return v;
}
V randn(size_t n, float mean, float sd) {
  std::normal_distribution<float> d(mean, sd);
  V v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// max |got - ref| / max |ref| (absolute when ref is all zero); a non-finite value in got where
// ref is finite fails.
void compare(const std::string& group, const std::string& name, const V& ref, const V& got, double tol) {
  double maxref = 0, maxerr = 0;
  size_t bad = 0, worst = 0, first_bad = SIZE_MAX;
  for (size_t i = 0; i < ref.size(); ++i)
    if (std::isfinite(ref[i])) maxref = std::max(maxref, double(std::fabs(ref[i])));
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool rf = std::isfinite(ref[i]), gf = std::isfinite(got[i]);
    if (rf != gf || (!rf && std::memcmp(&ref[i], &got[i], 4) != 0 && !(std::isnan(ref[i]) && std::isnan(got[i])))) {
      if (first_bad == SIZE_MAX) first_bad = i;
      ++bad;
      continue;
    }
    if (!rf) continue;
    const double e = std::fabs(double(got[i]) - double(ref[i]));
    if (e > maxerr) maxerr = e, worst = i;
  }
  const double err = maxref > 0 ? maxerr / maxref : maxerr;
  char note[256] = "";
  if (bad)
    std::snprintf(note, sizeof note, "%zu non-finite mismatches, first at %zu (cpu %g gpu %g)", bad, first_bad,
                  double(ref[first_bad]), double(got[first_bad]));
  else if (err > tol)
    std::snprintf(note, sizeof note, "worst at %zu of %zu: cpu %.9g gpu %.9g", worst, ref.size(), double(ref[worst]),
                  double(got[worst]));
  record(group, name, err, tol, bad == 0 && err <= tol, note);
}

void same_bits(const std::string& group, const std::string& name, const V& a, const V& b) {
  size_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff += std::memcmp(&a[i], &b[i], 4) != 0;
  record(group, name, double(diff), 0, diff == 0, diff ? std::to_string(diff) + " elements differ" : "");
}

const char* prec_name(int32_t p) { return p == CLSA_PRECISION_TF32 ? "tf32" : "fp32"; }

std::vector<int32_t> precisions() {
  std::vector<int32_t> p{CLSA_PRECISION_FP32};
  if (g_tf32) p.push_back(CLSA_PRECISION_TF32);
  return p;
}

// ---- convolution ----------------------------------------------------------------------------------
std::string conv_name(const ConvShape& s) {
  char b[128];
  std::snprintf(b, sizeof b, "%lld->%lld k%lld s%lld p%lld n%lld %lldx%lld", (long long)s.cin, (long long)s.cout,
                (long long)s.k, (long long)s.stride, (long long)s.pad, (long long)s.n, (long long)s.h, (long long)s.w);
  return b;
}

void check_conv(const ConvShape& s, int skew) {
  if (skip(double(s.cout) * double(s.kdim()) * double(s.n * s.ho() * s.wo()))) return;
  const size_t xs = size_t(s.cin * s.n * s.h * s.w), ws = size_t(s.cout * s.kdim());
  const size_t ys = size_t(s.cout * s.n * s.ho() * s.wo());
  const V x = randu(xs), w = randu(ws, -0.5f, 0.5f), dy = randu(ys), dw0 = randu(ws);
  // CPU twin
  V y_ref(ys), dx_ref(xs), dw_ref = dw0, dw_ref2 = dw0;
  cpu::conv_forward(s, x.data(), w.data(), y_ref.data());
  cpu::conv_backward(s, x.data(), w.data(), dy.data(), dx_ref.data(), dw_ref.data());
  cpu::conv_backward(s, x.data(), w.data(), dy.data(), nullptr, dw_ref2.data());

  Dev gx(x, skew), gw(w), gdy(dy, skew), gy(ys, skew), gdx(xs, skew), gdw(ws, skew);  // device copies
  const std::string base = conv_name(s) + (skew ? " skew" : "");
  for (int32_t prec : precisions()) {
    const std::string group = std::string("conv-") + prec_name(prec);
    const double tol = prec == CLSA_PRECISION_TF32 ? kTolTf32 : kTolGemm;
    const size_t wsf = cnn::conv_workspace_floats(s, prec);
    Dev work(std::max<size_t>(wsf, 1));
    work.poison();  // the workspace must be fully written before it is read

    gy.poison();
    if (ok_call(cnn::conv_forward(s, gx.p, gw.p, gy.p, prec, work.p, wsf, g_stream), group, base + " fwd"))
      compare(group, base + " fwd y", y_ref, gy.down(), tol);

    gdx.poison();
    gdw.up(dw0);
    if (ok_call(cnn::conv_backward(s, gx.p, gw.p, gdy.p, gdx.p, gdw.p, prec, work.p, wsf, g_stream), group,
                base + " bwd")) {
      compare(group, base + " bwd dx", dx_ref, gdx.down(), tol);
      const V dw1 = gdw.down();
      compare(group, base + " bwd dw (+=)", dw_ref, dw1, tol);
      // again from the same dw: bit-identical (split-K reduced in a fixed order)
      gdw.up(dw0);
      work.poison();
      if (ok_call(cnn::conv_backward(s, gx.p, gw.p, gdy.p, nullptr, gdw.p, prec, work.p, wsf, g_stream), group,
                  base + " bwd dx=null"))
        same_bits("determinism", base + " " + prec_name(prec) + " dw, 2 runs", dw1, gdw.down());
      compare(group, base + " bwd dx=null dw", dw_ref2, gdw.down(), tol);
    }
    if (wsf > 0 && prec == CLSA_PRECISION_FP32) {
      const clsa_status st = cnn::conv_backward(s, gx.p, gw.p, gdy.p, gdx.p, gdw.p, prec, work.p, wsf - 1, g_stream);
      CK(cudaStreamSynchronize(g_stream));
      record("errors", base + " workspace too small refused", 0, 0, st == CLSA_ERR_INVALID_ARGUMENT,
             st == CLSA_ERR_INVALID_ARGUMENT ? "" : std::string("got ") + clsa_status_string(st));
    }
  }
}

// ---- batch norm ---------------------------------------------------------------------------------
void check_bn(const BnShape& s, int skew) {
  if (skip(double(s.c * s.n * s.hw) * 30)) return;
  const size_t total = size_t(s.c * s.n * s.hw), cg = size_t(s.c * s.groups), c = size_t(s.c);
  char nb[128];
  std::snprintf(nb, sizeof nb, "c%lld n%lld hw%lld g%lld%s", (long long)s.c, (long long)s.n, (long long)s.hw,
                (long long)s.groups, skew ? " skew" : "");
  const std::string base = nb, group = "bn";
  const V x = randn(total, 0.3f, 1.5f), gamma = randu(c, 0.5f, 1.5f), beta = randu(c, -0.5f, 0.5f);
  const V rm0 = randu(c, -0.2f, 0.2f), rv0 = randu(c, 0.5f, 1.5f), dy = randu(total);
  const float momentum = 0.1f;
  Dev gx(x, skew), dg(gamma), dbeta(beta), drm(c), drv(c), dyv(total, skew), dmean(cg), dinv(cg);
  for (int relu = 0; relu < 2; ++relu)
    for (int stats = 0; stats < 2; ++stats) {
      const std::string nm = base + (relu ? " relu" : "") + (stats ? " +running" : "");
      V y_ref(total), mean_ref(cg), inv_ref(cg), rm_ref = rm0, rv_ref = rv0;
      cpu::bn_forward_train(s, x.data(), gamma.data(), beta.data(), y_ref.data(), mean_ref.data(), inv_ref.data(),
                            stats ? rm_ref.data() : nullptr, stats ? rv_ref.data() : nullptr, momentum, relu);
      dyv.poison(), dmean.poison(), dinv.poison();
      drm.up(rm0), drv.up(rv0);
      if (!ok_call(cnn::bn_forward_train(s, gx.p, dg.p, dbeta.p, dyv.p, dmean.p, dinv.p, stats ? drm.p : nullptr,
                                         stats ? drv.p : nullptr, momentum, relu, g_stream),
                   group, nm + " train"))
        continue;
      const V y1 = dyv.down();
      compare(group, nm + " train y", y_ref, y1, kTolExact);
      compare(group, nm + " train mean", mean_ref, dmean.down(), kTolExact);
      compare(group, nm + " train invstd", inv_ref, dinv.down(), kTolExact);
      if (stats) {
        compare(group, nm + " running_mean", rm_ref, drm.down(), kTolExact);
        compare(group, nm + " running_var", rv_ref, drv.down(), kTolExact);
      } else {
        compare(group, nm + " running stats untouched", rm0, drm.down(), 0);
      }
      dyv.poison();
      if (ok_call(cnn::bn_forward_train(s, gx.p, dg.p, dbeta.p, dyv.p, dmean.p, dinv.p, nullptr, nullptr, momentum,
                                        relu, g_stream),
                  group, nm + " train again"))
        same_bits("determinism", "bn " + nm + " y, 2 runs", y1, dyv.down());
    }
  // eval
  for (int relu = 0; relu < 2; ++relu) {
    const std::string nm = base + (relu ? " relu" : "");
    V y_ref(total);
    cpu::bn_forward_eval(s, x.data(), gamma.data(), beta.data(), rm0.data(), rv0.data(), y_ref.data(), relu);
    drm.up(rm0), drv.up(rv0);
    dyv.poison();
    if (ok_call(cnn::bn_forward_eval(s, gx.p, dg.p, dbeta.p, drm.p, drv.p, dyv.p, relu, g_stream), group, nm + " eval"))
      compare(group, nm + " eval y", y_ref, dyv.down(), kTolExact);
  }
  // backward, from the CPU's saved statistics (and its ReLU output as the mask)
  V mean_ref(cg), inv_ref(cg), relu_out(total);
  cpu::bn_forward_train(s, x.data(), gamma.data(), beta.data(), relu_out.data(), mean_ref.data(), inv_ref.data(),
                        nullptr, nullptr, momentum, true);
  Dev dro(relu_out, skew), ddy(total, skew), ddx(total, skew), ddg(c), ddb(c);
  dmean.up(mean_ref), dinv.up(inv_ref);
  for (int mask = 0; mask < 2; ++mask)
    for (int alias = 0; alias < 2; ++alias) {
      const std::string nm = base + (mask ? " relu_out" : "") + (alias ? " dx=dy" : "");
      const V dg0 = randu(c), db0 = randu(c);
      V dx_ref(total), dg_ref = dg0, db_ref = db0;
      cpu::bn_backward(s, x.data(), gamma.data(), mean_ref.data(), inv_ref.data(), dy.data(), dx_ref.data(),
                       dg_ref.data(), db_ref.data(), mask ? relu_out.data() : nullptr);
      ddy.up(dy);
      ddx.poison();
      ddg.up(dg0), ddb.up(db0);
      float* out = alias ? ddy.p : ddx.p;
      if (!ok_call(cnn::bn_backward(s, gx.p, dg.p, dmean.p, dinv.p, ddy.p, out, ddg.p, ddb.p, mask ? dro.p : nullptr,
                                    g_stream),
                   group, nm + " bwd"))
        continue;
      compare(group, nm + " bwd dx", dx_ref, alias ? ddy.down() : ddx.down(), kTolExact);
      compare(group, nm + " bwd dgamma (+=)", dg_ref, ddg.down(), kTolExact);
      compare(group, nm + " bwd dbeta (+=)", db_ref, ddb.down(), kTolExact);
    }
}

// ---- element-wise, sgd ----------------------------------------------------------------------------
void check_elementwise(int64_t count, int skew) {
  if (skip(double(count) * 10)) return;
  const std::string base = "count " + std::to_string(count) + (skew ? " skew" : ""), group = "elementwise";
  V a = randu(size_t(count)), b = randu(size_t(count));
  for (int64_t i = 0; i < count; i += 7) a[size_t(i)] = (i % 14) ? 0.0f : -0.0f;  // exact zeros of both signs
  Dev da(a, skew), db(b, skew), dout(size_t(count), skew);
  {
    V ref(a.size());
    cpu::relu_forward(a.data(), ref.data(), count);
    dout.poison();
    if (ok_call(cnn::relu_forward(da.p, dout.p, count, g_stream), group, base + " relu"))
      compare(group, base + " relu", ref, dout.down(), kTolExact);
    Dev in(a, skew);  // in place: y = x
    if (ok_call(cnn::relu_forward(in.p, in.p, count, g_stream), group, base + " relu in place"))
      compare(group, base + " relu in place", ref, in.down(), kTolExact);
  }
  {
    V ref(a.size());
    cpu::relu_backward(a.data(), b.data(), ref.data(), count);
    dout.poison();
    if (ok_call(cnn::relu_backward(da.p, db.p, dout.p, count, g_stream), group, base + " relu_backward"))
      compare(group, base + " relu_backward", ref, dout.down(), kTolExact);
    Dev g(b, skew);  // dx = dy
    if (ok_call(cnn::relu_backward(da.p, g.p, g.p, count, g_stream), group, base + " relu_backward dx=dy"))
      compare(group, base + " relu_backward dx=dy", ref, g.down(), kTolExact);
  }
  {
    V ref(a.size());
    cpu::add_relu_forward(a.data(), b.data(), ref.data(), count);
    dout.poison();
    if (ok_call(cnn::add_relu_forward(da.p, db.p, dout.p, count, g_stream), group, base + " add_relu"))
      compare(group, base + " add_relu", ref, dout.down(), kTolExact);
    Dev y(a, skew);  // y = a
    if (ok_call(cnn::add_relu_forward(y.p, db.p, y.p, count, g_stream), group, base + " add_relu y=a"))
      compare(group, base + " add_relu y=a", ref, y.down(), kTolExact);
  }
  {
    V ref = a;
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += b[i];
    Dev y(a, skew);
    if (ok_call(cnn::add_inplace(y.p, db.p, count, g_stream), group, base + " add_inplace"))
      compare(group, base + " add_inplace", ref, y.down(), kTolExact);
  }
  {
    // sgd: the CPU's loop (model/ops_cpu.cpp), same float operations
    const V p0 = randu(size_t(count)), g = randu(size_t(count)), buf0 = randu(size_t(count));
    const float lr = 0.03f, mu = 0.9f, wd = 5e-4f;
    V p = p0, buf = buf0;
    for (int64_t i = 0; i < count; ++i) {
      const float d = g[size_t(i)] + wd * p[size_t(i)];
      buf[size_t(i)] = mu * buf[size_t(i)] + d;
      p[size_t(i)] -= lr * buf[size_t(i)];
    }
    Dev dp(p0, skew), dgr(g, skew), dbuf(buf0, skew);
    if (ok_call(cnn::sgd(dp.p, dgr.p, dbuf.p, count, lr, mu, wd, g_stream), "sgd", base)) {
      const V gp = dp.down(), gb = dbuf.down();
      compare("sgd", base + " p", p, gp, kTolExact);
      compare("sgd", base + " buf", buf, gb, kTolExact);
      same_bits("sgd", base + " p bitwise vs cpu", p, gp);
    }
  }
}

// ---- layout, pooling ----------------------------------------------------------------------------
std::vector<int64_t> random_perm(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

struct DevI64 {
  int64_t* p = nullptr;
  explicit DevI64(const std::vector<int64_t>& h) {
    CK(cudaMalloc(&p, std::max<size_t>(1, h.size()) * sizeof(int64_t)));
    CK(cudaMemcpy(p, h.data(), h.size() * sizeof(int64_t), cudaMemcpyHostToDevice));
  }
  ~DevI64() { cudaFree(p); }
};

void check_layout(int64_t n, int64_t c, int64_t hw, int skew) {
  if (skip(double(n * c * hw) * 3)) return;
  char nb[96];
  std::snprintf(nb, sizeof nb, "n%lld c%lld hw%lld%s", (long long)n, (long long)c, (long long)hw, skew ? " skew" : "");
  const std::string base = nb, group = "layout";
  const V in = randu(size_t(n * c * hw));
  const std::vector<int64_t> perm = random_perm(n);
  DevI64 dperm(perm);
  Dev din(in, skew), dout(in.size(), skew);
  for (int use_perm = 0; use_perm < 2; ++use_perm) {
    V ref(in.size());
    if (!use_perm) {
      cpu::nchw_to_cnhw(in.data(), n, c, hw, ref.data());
    } else {
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < n; ++i)
          std::memcpy(&ref[size_t((ch * n + i) * hw)], &in[size_t((perm[size_t(i)] * c + ch) * hw)], sizeof(float) * size_t(hw));
    }
    dout.poison();
    const std::string nm = base + (use_perm ? " perm" : "");
    if (ok_call(cnn::gather_cnhw(din.p, n, n, c, hw, use_perm ? dperm.p : nullptr, dout.p, g_stream), group,
                nm + " gather_cnhw"))
      compare(group, nm + " gather_cnhw", ref, dout.down(), 0);
  }
  // A rank's slice: the last m rows of the permutation, indices over all n images (its share of
  // the gathered key views).
  if (n >= 2) {
    const int64_t m = n / 2;
    V ref(size_t(m * c * hw));
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(&ref[size_t((ch * m + i) * hw)], &in[size_t((perm[size_t(n - m + i)] * c + ch) * hw)], sizeof(float) * size_t(hw));
    dout.poison();
    if (ok_call(cnn::gather_cnhw(din.p, n, m, c, hw, dperm.p + (n - m), dout.p, g_stream), group, base + " slice gather_cnhw")) {
      V got = dout.down();
      got.resize(ref.size());
      compare(group, base + " slice of a permutation gather_cnhw", ref, got, 0);
    }
  }
  // scatter_rows: rows of d = c*hw floats
  const int64_t d = c * hw;
  V ref(in.size());
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(&ref[size_t(perm[size_t(i)] * d)], &in[size_t(i * d)], sizeof(float) * size_t(d));
  dout.poison();
  if (ok_call(cnn::scatter_rows(din.p, n, d, dperm.p, dout.p, g_stream), group, base + " scatter_rows"))
    compare(group, base + " scatter_rows", ref, dout.down(), 0);
}

void check_gap(int64_t c, int64_t n, int64_t hw, int skew) {
  if (skip(double(c * n * hw) * 3)) return;
  char nb[96];
  std::snprintf(nb, sizeof nb, "c%lld n%lld hw%lld%s", (long long)c, (long long)n, (long long)hw, skew ? " skew" : "");
  const std::string base = nb, group = "gap";
  const V x = randn(size_t(c * n * hw), 0.5f, 1.0f), df = randu(size_t(n * c));
  V f_ref(size_t(n * c)), dx_ref(x.size());
  cpu::gap_forward(x.data(), c, n, hw, f_ref.data());
  cpu::gap_backward(df.data(), c, n, hw, dx_ref.data());
  Dev gx(x, skew), dfe(size_t(n * c), skew), ddf(df, skew), ddx(x.size(), skew);
  dfe.poison();
  if (ok_call(cnn::gap_forward(gx.p, c, n, hw, dfe.p, g_stream), group, base + " forward")) {
    const V f1 = dfe.down();
    compare(group, base + " forward", f_ref, f1, kTolExact);
    dfe.poison();
    if (ok_call(cnn::gap_forward(gx.p, c, n, hw, dfe.p, g_stream), group, base + " forward again"))
      same_bits("determinism", "gap " + base + " 2 runs", f1, dfe.down());
  }
  ddx.poison();
  if (ok_call(cnn::gap_backward(ddf.p, c, n, hw, ddx.p, g_stream), group, base + " backward"))
    compare(group, base + " backward", dx_ref, ddx.down(), kTolExact);
}

// ---- linear -------------------------------------------------------------------------------------
void check_linear(int64_t n, int64_t in, int64_t out, int skew) {
  if (skip(double(n * in * out) * 3)) return;
  char nb[96];
  std::snprintf(nb, sizeof nb, "n%lld in%lld out%lld%s", (long long)n, (long long)in, (long long)out,
                skew ? " skew" : "");
  const std::string base = nb;
  const V x = randu(size_t(n * in)), w = randu(size_t(out * in), -0.5f, 0.5f), b = randu(size_t(out));
  const V dy = randu(size_t(n * out)), dw0 = randu(size_t(out * in)), db0 = randu(size_t(out));
  V y_ref(size_t(n * out)), y_ref_nb(size_t(n * out)), dx_ref(size_t(n * in)), dw_ref = dw0, db_ref = db0;
  cpu::linear_forward(x.data(), n, in, out, w.data(), b.data(), y_ref.data());
  cpu::linear_forward(x.data(), n, in, out, w.data(), nullptr, y_ref_nb.data());
  cpu::linear_backward(x.data(), n, in, out, w.data(), dy.data(), dx_ref.data(), dw_ref.data(), db_ref.data());
  Dev gx(x, skew), gw(w, skew), gbias(b), dyy(size_t(n * out), skew), ddy(dy, skew), ddx(size_t(n * in), skew),
      ddw(size_t(out * in), skew), ddb(static_cast<size_t>(out));
  for (int32_t prec : precisions()) {
    const std::string group = std::string("linear-") + prec_name(prec);
    const double tol = prec == CLSA_PRECISION_TF32 ? kTolTf32 : kTolGemm;
    for (int bias = 0; bias < 2; ++bias) {
      dyy.poison();
      const std::string nm = base + (bias ? " fwd +b" : " fwd");
      if (ok_call(cnn::linear_forward(gx.p, n, in, out, gw.p, bias ? gbias.p : nullptr, dyy.p, prec, g_stream), group,
                  nm))
        compare(group, nm + " y", bias ? y_ref : y_ref_nb, dyy.down(), tol);
    }
    ddx.poison();
    ddw.up(dw0), ddb.up(db0);
    if (ok_call(cnn::linear_backward(gx.p, n, in, out, gw.p, ddy.p, ddx.p, ddw.p, ddb.p, prec, g_stream), group,
                base + " bwd")) {
      compare(group, base + " bwd dx", dx_ref, ddx.down(), tol);
      compare(group, base + " bwd dw (+=)", dw_ref, ddw.down(), tol);
      compare(group, base + " bwd db (+=)", db_ref, ddb.down(), kTolExact);
    }
    ddw.up(dw0);
    if (ok_call(cnn::linear_backward(gx.p, n, in, out, gw.p, ddy.p, nullptr, ddw.p, nullptr, prec, g_stream), group,
                base + " bwd dx=db=null"))
      compare(group, base + " bwd dx=db=null dw", dw_ref, ddw.down(), tol);
  }
}

// ---- timings --------------------------------------------------------------------------------------
double median_ms(const std::function<clsa_status()>& f, int reps) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i)
    if (f() != CLSA_OK) return NAN;
  CK(cudaStreamSynchronize(g_stream));
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    CK(cudaEventRecord(a, g_stream));
    if (f() != CLSA_OK) return NAN;
    CK(cudaEventRecord(b, g_stream));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench() {
  const int64_t n = 256;
  const std::vector<ConvShape> shapes = {
      {3, 64, 3, 1, 1, n, 32, 32},     {64, 64, 3, 1, 1, n, 32, 32},   {64, 128, 3, 2, 1, n, 32, 32},
      {64, 128, 1, 2, 0, n, 32, 32},   {128, 128, 3, 1, 1, n, 16, 16}, {128, 256, 3, 2, 1, n, 16, 16},
      {128, 256, 1, 2, 0, n, 16, 16},  {256, 256, 3, 1, 1, n, 8, 8},   {256, 512, 3, 2, 1, n, 8, 8},
      {256, 512, 1, 2, 0, n, 8, 8},    {512, 512, 3, 1, 1, n, 4, 4},
  };
  size_t maxx = 0, maxy = 0, maxw = 0, maxws = 0;
  for (const ConvShape& s : shapes) {
    maxx = std::max(maxx, size_t(s.cin * s.n * s.h * s.w));
    maxy = std::max(maxy, size_t(s.cout * s.n * s.ho() * s.wo()));
    maxw = std::max(maxw, size_t(s.cout * s.kdim()));
    for (int32_t p : precisions()) maxws = std::max(maxws, cnn::conv_workspace_floats(s, p));
  }
  const V hx = randu(std::max(maxx, maxy));
  Dev x(maxx), y(maxy), dy(maxy), dx(maxx), w(maxw), dw(maxw), work(std::max<size_t>(maxws, 1));
  CK(cudaMemcpy(x.p, hx.data(), maxx * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dy.p, hx.data(), maxy * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(w.p, hx.data(), maxw * 4, cudaMemcpyHostToDevice));
  CK(cudaMemset(dw.p, 0, maxw * 4));
  std::printf("\n== conv timings, batch %lld (median of 20 after 3 warm-up; TFLOP/s = 2*cout*cin*k*k*n*ho*wo per "
              "product; workspace max %.1f MB)\n",
              (long long)n, double(maxws) * 4 / 1e6);
  std::printf("%-32s %-5s %9s %8s %9s %8s %9s %8s\n", "shape", "prec", "fwd ms", "TFLOP/s", "bwd ms", "TFLOP/s",
              "dW ms", "TFLOP/s");
  for (const ConvShape& s : shapes)
    for (int32_t p : precisions()) {
      const size_t wsf = cnn::conv_workspace_floats(s, p);
      const double flop = 2.0 * double(s.cout) * double(s.kdim()) * double(s.n * s.ho() * s.wo());
      const double f = median_ms([&] { return cnn::conv_forward(s, x.p, w.p, y.p, p, work.p, wsf, g_stream); }, 20);
      const double bw =
          median_ms([&] { return cnn::conv_backward(s, x.p, w.p, dy.p, dx.p, dw.p, p, work.p, wsf, g_stream); }, 20);
      const double bwo =
          median_ms([&] { return cnn::conv_backward(s, x.p, w.p, dy.p, nullptr, dw.p, p, work.p, wsf, g_stream); }, 20);
      std::printf("%-32s %-5s %9.3f %8.2f %9.3f %8.2f %9.3f %8.2f\n", conv_name(s).c_str(), prec_name(p), f,
                  flop / f / 1e9, bw, 2 * flop / bw / 1e9, bwo, flop / bwo / 1e9);
    }
  CK(cudaStreamSynchronize(g_stream));
  CK(cudaGetLastError());
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // through a pipe to tee: keep every line even if a kernel crashes us
  bool do_bench = true;
  g_seed = static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seed") && i + 1 < argc)
      g_seed = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--no-bench"))
      do_bench = false;
    else if (!std::strcmp(argv[i], "--quick"))
      g_quick = true, do_bench = false;
    else if (!std::strcmp(argv[i], "--max-work") && i + 1 < argc)
      g_quick = true, do_bench = false, g_max_work = std::strtod(argv[++i], nullptr);
    else {
      std::fprintf(stderr, "usage: %s [--seed S] [--no-bench] [--quick] [--max-work W]\n", argv[0]);
      return 2;
    }
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("nn_check: no usable CUDA device: cudaGetDeviceCount: %s (%s)\n",
                e != cudaSuccess ? cudaGetErrorName(e) : "cudaSuccess", e != cudaSuccess ? cudaGetErrorString(e)
                                                                                      : "0 devices");
    return 3;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  CK(cudaSetDevice(0));
  g_tf32 = prop.major >= 8;
  CK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  rng.seed(g_seed);
  std::printf("nn_check: %s (sm_%d%d, %d SMs), seed %llu (repeat with --seed %llu); tf32 path %s\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount, g_seed, g_seed, g_tf32 ? "checked" : "not available");

  // Convolutions: odd sizes (dividing no tile), 1x1 and stride-2 shortcuts, pad 0, 1x1 images, a
  // 5x5 kernel, a long split-K reduction, several M tiles, and ResNet-like layers.
  const std::vector<ConvShape> convs = {
      {3, 13, 3, 2, 1, 3, 7, 9},      {5, 7, 3, 1, 1, 3, 7, 9},      {5, 70, 1, 2, 0, 3, 7, 9},
      {16, 16, 1, 1, 0, 2, 5, 5},     {4, 6, 3, 1, 0, 2, 5, 6},      {8, 9, 3, 1, 1, 5, 1, 1},
      {7, 3, 1, 2, 0, 3, 1, 1},       {3, 5, 5, 2, 2, 2, 11, 10},    {3, 16, 3, 1, 1, 4, 28, 28},
      {8, 8, 3, 1, 1, 64, 32, 32},    {130, 67, 3, 2, 1, 3, 9, 7},   {64, 64, 3, 1, 1, 32, 32, 32},
      {64, 128, 3, 2, 1, 32, 32, 32}, {64, 128, 1, 2, 0, 32, 32, 32}, {256, 512, 3, 2, 1, 8, 8, 8},
      {512, 512, 3, 1, 1, 16, 4, 4},
  };
  for (const ConvShape& s : convs) check_conv(s, 0);
  check_conv({5, 70, 3, 1, 1, 3, 7, 9}, 1);    // misaligned buffers: scalar epilogue and reduction
  check_conv({16, 32, 3, 1, 1, 8, 8, 8}, 1);
  check_conv({2, 3, 3, 1, 1, 2, 24, 24}, 1);   // split-K weight gradient, scalar reduction (54 weights)

  const std::vector<BnShape> bns = {{5, 6, 7, 1, 1e-5f},    {5, 6, 7, 3, 1e-5f},     {3, 2, 1, 2, 1e-5f},
                                    {4, 8, 16, 2, 1e-5f},   {64, 32, 1024, 1, 1e-5f}, {64, 32, 1024, 8, 1e-5f},
                                    {512, 32, 16, 4, 1e-5f}, {7, 1, 4, 1, 1e-5f}};
  for (const BnShape& s : bns) check_bn(s, 0);
  check_bn({4, 8, 16, 2, 1e-5f}, 1);
  check_bn({64, 32, 1024, 8, 1e-5f}, 1);

  for (int64_t count : {int64_t(1), int64_t(3), int64_t(4), int64_t(7), int64_t(1000), int64_t(4099),
                        (int64_t(1) << 20) + 3})
    for (int skew = 0; skew < 2; ++skew) check_elementwise(count, skew);

  check_layout(5, 3, 784, 0);
  check_layout(5, 3, 784, 1);
  check_layout(7, 3, 13, 0);
  check_layout(1, 1, 1, 0);
  check_layout(256, 3, 1024, 0);

  check_gap(5, 3, 7, 0);
  check_gap(512, 32, 16, 0);
  check_gap(64, 8, 1024, 1);
  check_gap(3, 2, 1, 0);

  check_linear(3, 5, 7, 0);
  check_linear(33, 130, 67, 1);
  check_linear(256, 512, 128, 0);
  check_linear(256, 128, 2048, 0);
  check_linear(1, 1, 1, 0);

  if (do_bench) bench();
  summary();
  for (const Check& c : g_checks)
    if (!c.pass) return 1;
  return g_checks.empty() ? 1 : 0;
}
