// Where one CPU training step spends its time, layer by layer, in CPU time of one thread.
//
// The machine this project is built on is shared, so wall-clock times of a step say more about
// the neighbours than about the code. With the pool at one thread every kernel runs on the
// calling thread, and that thread's CPU time (CLOCK_THREAD_CPUTIME_ID) is close to what the
// kernel would take alone: other load costs it cache and memory bandwidth, not time slices.
//
// Two parts:
//   1. A whole step (clsa_model_step) with the model's back end wrapped in a timing Ops that
//      charges every layer call to "<op> <shape>". What no layer call covers (the fused head,
//      the key encoder's EMA, the enqueue, the step's glue) is the remainder.
//   2. Every convolution shape of that step on its own: forward, backward with dW only, and
//      backward with dW and dX (dX = the difference), next to the sgemm rate of the same GEMM
//      core on one thread (1024 x 1024 x 1024).
// Medians over --steps steps (part 1) and --reps calls (part 2). Output: JSON on stdout.
//
//   step_profile [--width=16] [--batch=64] [--views=28,28,28] (key, weak, strong...; 0 strong
//                allowed) [--steps=7] [--warmup=2] [--reps=7] [--precision=fp32|bf16] [--no-kernels]
//
// Built with -DCLSA_BUILD_BENCH=ON (target step_profile); not part of the library.
#include <clsa/clsa.h>
#include <clsa/model.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../native/src/cpu/nn/conv.h"
#include "../../native/src/cpu/nn/gemm.h"
#include "../../native/src/model/model_impl.h"
#include "../../native/src/model/ops.h"

namespace {

using clsa::model::Ops;
namespace nn = clsa::nn;

double thread_cpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Page faults of this thread so far: a step that faults is paying for memory it should have kept.
double thread_faults() {
  rusage u;
  getrusage(RUSAGE_THREAD, &u);
  return double(u.ru_minflt + u.ru_majflt);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::string conv_name(const nn::ConvShape& s) {
  char b[96];
  std::snprintf(b, sizeof b, "%lld->%lld k%lld s%lld %lldx%lld", (long long)s.cin, (long long)s.cout, (long long)s.k,
                (long long)s.stride, (long long)s.h, (long long)s.w);
  return b;
}
std::string bn_name(const nn::BnShape& s) {
  char b[64];
  std::snprintf(b, sizeof b, "c%lld hw%lld", (long long)s.c, (long long)s.hw);
  return b;
}
std::string count_name(int64_t count) { return std::to_string(count); }

// Forwards every call to the model's own back end and charges its thread CPU time to a label.
class TimingOps final : public Ops {
 public:
  explicit TimingOps(std::unique_ptr<Ops> inner) : in_(std::move(inner)) {}
  std::map<std::string, double> seconds;
  std::map<std::string, int> calls;
  std::set<std::string> conv_shapes;  // (as "cin cout k stride pad h w")
  std::vector<nn::ConvShape> convs;

  int32_t device() const override { return in_->device(); }
  int32_t precision() const override { return in_->precision(); }
  int32_t head_precision() const override { return in_->head_precision(); }
  void zero(float* p, int64_t count) override { time("zero", [&] { in_->zero(p, count); }); }
  void copy(float* dst, const float* src, int64_t count) override { time("copy", [&] { in_->copy(dst, src, count); }); }
  void upload(float* dst, const float* host, int64_t count) override { in_->upload(dst, host, count); }
  void download(float* host, const float* src, int64_t count) override { in_->download(host, src, count); }

  void conv_forward(const nn::ConvShape& s, const float* x, const float* w, float* y) override {
    note(s);
    time("conv fwd " + conv_name(s), [&] { in_->conv_forward(s, x, w, y); });
  }
  void conv_backward(const nn::ConvShape& s, const float* x, const float* w, const float* dy, float* dx,
                     float* dw) override {
    note(s);
    time(std::string(dx ? "conv bwd " : "conv bwd (dW only) ") + conv_name(s),
         [&] { in_->conv_backward(s, x, w, dy, dx, dw); });
  }
  void bn_forward_train(const nn::BnShape& s, const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* invstd, float* rm, float* rv, float momentum, bool relu) override {
    time(std::string(relu ? "bn+relu fwd " : "bn fwd ") + bn_name(s),
         [&] { in_->bn_forward_train(s, x, gamma, beta, y, mean, invstd, rm, rv, momentum, relu); });
  }
  void conv_bn_forward_train(const nn::ConvShape& cs, const float* x, const float* w, float* pre,
                             const nn::BnShape& bs, const float* gamma, const float* beta, float* y, float* mean,
                             float* invstd, float* rm, float* rv, float momentum, bool relu) override {
    note(cs);
    time(std::string(relu ? "conv+bn+relu fwd " : "conv+bn fwd ") + conv_name(cs),
         [&] { in_->conv_bn_forward_train(cs, x, w, pre, bs, gamma, beta, y, mean, invstd, rm, rv, momentum, relu); });
  }
  void bn_forward_eval(const nn::BnShape& s, const float* x, const float* gamma, const float* beta, const float* rm,
                       const float* rv, float* y, bool relu) override {
    time("bn eval " + bn_name(s), [&] { in_->bn_forward_eval(s, x, gamma, beta, rm, rv, y, relu); });
  }
  void bn_backward(const nn::BnShape& s, const float* x, const float* gamma, const float* mean, const float* invstd,
                   const float* dy, float* dx, float* dgamma, float* dbeta, const float* relu_out) override {
    time(std::string(relu_out ? "bn+relu bwd " : "bn bwd ") + bn_name(s),
         [&] { in_->bn_backward(s, x, gamma, mean, invstd, dy, dx, dgamma, dbeta, relu_out); });
  }
  void relu_forward(const float* x, float* y, int64_t count) override {
    time("relu fwd " + count_name(count), [&] { in_->relu_forward(x, y, count); });
  }
  void relu_backward(const float* y, const float* dy, float* dx, int64_t count) override {
    time("relu bwd " + count_name(count), [&] { in_->relu_backward(y, dy, dx, count); });
  }
  void add_relu_forward(const float* a, const float* b, float* y, int64_t count) override {
    time("add+relu fwd " + count_name(count), [&] { in_->add_relu_forward(a, b, y, count); });
  }
  void add(float* y, const float* x, int64_t count) override {
    time("add (residual grad) " + count_name(count), [&] { in_->add(y, x, count); });
  }
  void add_relu_backward(float* y, const float* x, const float* relu_out, int64_t count) override {
    time("add+relu bwd (residual grad) " + count_name(count), [&] { in_->add_relu_backward(y, x, relu_out, count); });
  }
  void gap_forward(const float* x, int64_t c, int64_t n, int64_t hw, float* feat) override {
    time("gap fwd", [&] { in_->gap_forward(x, c, n, hw, feat); });
  }
  void gap_backward(const float* dfeat, int64_t c, int64_t n, int64_t hw, float* dx) override {
    time("gap bwd", [&] { in_->gap_backward(dfeat, c, n, hw, dx); });
  }
  void linear_forward(const float* x, int64_t n, int64_t i, int64_t o, const float* w, const float* b,
                      float* y) override {
    time("linear fwd " + std::to_string(i) + "->" + std::to_string(o), [&] { in_->linear_forward(x, n, i, o, w, b, y); });
  }
  void linear_backward(const float* x, int64_t n, int64_t i, int64_t o, const float* w, const float* dy, float* dx,
                       float* dw, float* db) override {
    time("linear bwd " + std::to_string(i) + "->" + std::to_string(o),
         [&] { in_->linear_backward(x, n, i, o, w, dy, dx, dw, db); });
  }
  void gather_images(const float* images, int64_t rows, int64_t n, int64_t c, int64_t hw, const int64_t* perm,
                     float* out) override {
    time("gather images", [&] { in_->gather_images(images, rows, n, c, hw, perm, out); });
  }
  void scatter_rows(const float* src, int64_t n, int64_t d, const int64_t* perm, float* dst) override {
    time("scatter rows", [&] { in_->scatter_rows(src, n, d, perm, dst); });
  }
  void sgd(float* p, const float* g, float* buf, int64_t count, float lr, float mu, float wd) override {
    time("sgd", [&] { in_->sgd(p, g, buf, count, lr, mu, wd); });
  }

 protected:
  float* alloc(int64_t count) override { return new float[size_t(count)]; }
  void release(float* p) noexcept override { delete[] p; }

 private:
  template <class F>
  void time(const std::string& what, F&& f) {
    const double t = thread_cpu();
    f();
    seconds[what] += thread_cpu() - t;
    calls[what] += 1;
  }
  void note(const nn::ConvShape& s) {
    char key[96];
    std::snprintf(key, sizeof key, "%lld %lld %lld %lld %lld %lld %lld", (long long)s.cin, (long long)s.cout,
                  (long long)s.k, (long long)s.stride, (long long)s.pad, (long long)s.h, (long long)s.w);
    if (conv_shapes.insert(key).second) convs.push_back(s);
  }
  std::unique_ptr<Ops> in_;
};

struct Options {
  int width = 16, batch = 64, steps = 7, warmup = 2, reps = 7;
  std::vector<int> views{28, 28, 28};
  bool bf16 = false, kernels = true;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = val("--width=")) o.width = std::atoi(v);
    else if (const char* v = val("--batch=")) o.batch = std::atoi(v);
    else if (const char* v = val("--steps=")) o.steps = std::atoi(v);
    else if (const char* v = val("--warmup=")) o.warmup = std::atoi(v);
    else if (const char* v = val("--reps=")) o.reps = std::atoi(v);
    else if (const char* v = val("--precision=")) o.bf16 = std::string(v) == "bf16";
    else if (a == "--no-kernels") o.kernels = false;
    else if (const char* v = val("--views=")) {
      o.views.clear();
      for (const char* p = v; *p;) {
        o.views.push_back(std::atoi(p));
        p = std::strchr(p, ',');
        if (!p) break;
        ++p;
      }
    } else {
      std::fprintf(stderr, "step_profile: unknown argument %s\n", argv[i]);
      std::exit(2);
    }
  }
  if (o.views.size() < 2) {
    std::fprintf(stderr, "step_profile: --views needs a key and at least one weak view\n");
    std::exit(2);
  }
  return o;
}

std::vector<float> normal(std::mt19937& g, size_t n) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

void json_string(const std::string& s) {
  std::putchar('"');
  for (char c : s) {
    if (c == '"' || c == '\\') std::putchar('\\');
    std::putchar(c);
  }
  std::putchar('"');
}

// Part 1: per-label medians over steps, and the step's own thread CPU time.
void profile_step(const Options& o, TimingOps*& timing, clsa_model*& m) {
  clsa_model_config c;
  clsa_model_config_default(&c);
  c.width = o.width;
  c.in_channels = 1;
  c.queue_size = 4096;
  c.precision = o.bf16 ? CLSA_PRECISION_BF16 : CLSA_PRECISION_FP32;
  if (clsa_model_create(&c, &m) != CLSA_OK) {
    std::fprintf(stderr, "step_profile: %s\n", clsa_last_error());
    std::exit(1);
  }
  timing = new TimingOps(std::move(m->ops));
  m->ops.reset(timing);

  std::mt19937 g(1);
  std::vector<std::vector<float>> data;
  std::vector<clsa_images> ims;
  for (int s : o.views) {
    data.push_back(normal(g, size_t(o.batch) * size_t(s) * size_t(s)));
    ims.push_back({data.back().data(), o.batch, 1, s, s});
  }
  clsa_step_views v{};
  v.key = ims[0];
  v.weak = &ims[1];
  v.num_weak = 1;
  v.strong = ims.size() > 2 ? &ims[2] : nullptr;
  v.num_strong = int64_t(ims.size()) - 2;

  std::map<std::string, std::vector<double>> per;
  std::vector<double> totals, faults;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    timing->seconds.clear();
    timing->calls.clear();
    clsa_step_result r;
    const double f = thread_faults(), t = thread_cpu();
    if (clsa_model_step(m, &v, 0.01f, &r) != CLSA_OK) {
      std::fprintf(stderr, "step_profile: %s\n", clsa_last_error());
      std::exit(1);
    }
    const double total = thread_cpu() - t;
    if (i < o.warmup) continue;
    totals.push_back(total);
    faults.push_back(thread_faults() - f);
    double covered = 0;
    for (const auto& [k, s] : timing->seconds) {
      per[k].push_back(s);
      covered += s;
    }
    per["(head + EMA + enqueue + glue)"].push_back(total - covered);
  }
  std::printf("  \"stepMs\": %.3f,\n  \"pageFaultsPerStep\": %.0f,\n  \"stepMsAll\": [", 1e3 * median(totals),
              median(faults));
  for (size_t i = 0; i < totals.size(); ++i) std::printf("%s%.2f", i ? ", " : "", 1e3 * totals[i]);
  std::printf("],\n  \"layers\": [\n");
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [k, s] : per) order.push_back({median(s), k});
  std::sort(order.rbegin(), order.rend());
  for (size_t i = 0; i < order.size(); ++i) {
    std::printf("    {\"what\": ");
    json_string(order[i].second);
    const auto it = timing->calls.find(order[i].second);
    std::printf(", \"ms\": %.3f, \"callsPerStep\": %d}%s\n", 1e3 * order[i].first,
                it == timing->calls.end() ? 0 : it->second, i + 1 < order.size() ? "," : "");
  }
  std::printf("  ]");
}

// Part 2: each convolution shape alone.
void profile_kernels(const Options& o, const std::vector<nn::ConvShape>& convs) {
  namespace cnn = clsa::cpu::nn;
  const cnn::Precision prec = o.bf16 ? cnn::Precision::bf16 : cnn::Precision::fp32;
  std::mt19937 g(2);
  // The GEMM core's own rate on one thread: the ceiling convolution work is measured against.
  {
    const int64_t n = 1024;
    std::vector<float> a = normal(g, size_t(n * n)), b = normal(g, size_t(n * n)), c(size_t(n * n));
    std::vector<double> t;
    for (int r = 0; r < o.reps + 1; ++r) {
      cnn::GemmArgs ga{n, n, n, a.data(), n, 1, b.data(), n, 1, c.data(), n, false};
      ga.precision = prec;
      const double t0 = thread_cpu();
      cnn::gemm(ga);
      if (r) t.push_back(thread_cpu() - t0);
    }
    std::printf(",\n  \"gemm1024Gflops\": %.1f", 2.0 * double(n * n * n) / median(t) / 1e9);
  }
  std::printf(",\n  \"convs\": [\n");
  for (size_t i = 0; i < convs.size(); ++i) {
    const nn::ConvShape& s = convs[i];
    const size_t nx = size_t(s.cin * s.n * s.h * s.w), nw = size_t(s.cout * s.kdim()),
                 ny = size_t(s.cout * s.n * s.ho() * s.wo());
    std::vector<float> x = normal(g, nx), w = normal(g, nw), dy = normal(g, ny), y(ny), dx(nx), dw(nw, 0.0f);
    std::vector<double> tf, tw, tb;
    for (int r = 0; r < o.reps + 1; ++r) {
      double t0 = thread_cpu();
      cnn::conv_forward(s, x.data(), w.data(), y.data(), prec);
      double t1 = thread_cpu();
      cnn::conv_backward(s, x.data(), w.data(), dy.data(), nullptr, dw.data(), prec);
      double t2 = thread_cpu();
      cnn::conv_backward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), prec);
      double t3 = thread_cpu();
      if (r) tf.push_back(t1 - t0), tw.push_back(t2 - t1), tb.push_back(t3 - t2);
    }
    const double macs = double(s.cout) * double(s.kdim()) * double(s.n * s.ho() * s.wo());
    const double f = median(tf), wo = median(tw), b = median(tb);
    std::printf("    {\"conv\": \"%s\", \"n\": %lld, \"fwdMs\": %.3f, \"dwMs\": %.3f, \"dxMs\": %.3f, "
                "\"fwdGflops\": %.1f, \"dwGflops\": %.1f, \"dxGflops\": %.1f}%s\n",
                conv_name(s).c_str(), (long long)s.n, 1e3 * f, 1e3 * wo, 1e3 * (b - wo), 2 * macs / f / 1e9,
                2 * macs / wo / 1e9, s.cin == 1 ? 0.0 : 2 * macs / std::max(1e-9, b - wo) / 1e9,
                i + 1 < convs.size() ? "," : "");
  }
  std::printf("  ]");
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  clsa_cpu_set_threads(1);
  std::printf("{\n  \"what\": \"one CPU training step, single-thread CPU time (CLOCK_THREAD_CPUTIME_ID), medians\",\n");
  std::printf("  \"width\": %d, \"batch\": %d, \"precision\": \"%s\", \"gemm\": \"%s\", \"views\": [", o.width, o.batch,
              o.bf16 ? "bf16" : "fp32", clsa::cpu::nn::gemm_variant());
  for (size_t i = 0; i < o.views.size(); ++i) std::printf("%s%d", i ? ", " : "", o.views[i]);
  std::printf("], \"steps\": %d, \"reps\": %d,\n", o.steps, o.reps);
  TimingOps* timing = nullptr;
  clsa_model* m = nullptr;
  profile_step(o, timing, m);
  if (o.kernels) profile_kernels(o, timing->convs);
  std::printf("\n}\n");
  clsa_model_destroy(m);
  return 0;
}
