// The small memory-bound kernels of cuda/backend.cu under the emulator, through the C API, against
// the CPU back end: fill, EMA (vector and scalar paths, a partial last vector), enqueue (wrap, N > K,
// with and without normalisation) and the row scan.
#include <cmath>

#include "common.h"

using namespace emu_check;
using V = std::vector<float>;

namespace {

void check_ema(int64_t count, int skew, float m) {
  const V t0 = randu(size_t(count)), s = randu(size_t(count));
  V cpu = t0;
  ok("cpu momentum", clsa_momentum_update(CLSA_DEVICE_CPU, 0, cpu.data(), s.data(), count, m, nullptr));
  Dev<float> dt(size_t(count + skew)), ds(size_t(count + skew));
  cudaMemcpy(dt.p + skew, t0.data(), size_t(count) * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(ds.p + skew, s.data(), size_t(count) * 4, cudaMemcpyHostToDevice);
  ok("cuda momentum", clsa_momentum_update(CLSA_DEVICE_CUDA, 0, dt.p + skew, ds.p + skew, count, m, nullptr));
  V got(static_cast<size_t>(count));
  cudaMemcpy(got.data(), dt.p + skew, size_t(count) * 4, cudaMemcpyDeviceToHost);
  // The CPU may vectorise with FMA; the kernel rounds a*t and b*s separately.
  close("ema count " + std::to_string(count) + " skew " + std::to_string(skew), cpu, got, 1e-6);
}

void check_enqueue(int64_t k, int64_t d, int64_t n, int64_t pointer, bool normalize) {
  const V keys = randu(size_t(n * d)), q0 = randu(size_t(k * d));
  V cpu = q0;
  int64_t pc = pointer, pg = pointer;
  ok("cpu enqueue", clsa_queue_enqueue(CLSA_DEVICE_CPU, 0, cpu.data(), k, d, keys.data(), n, normalize, &pc, nullptr));
  Dev<float> dq(q0), dk(keys);
  ok("cuda enqueue", clsa_queue_enqueue(CLSA_DEVICE_CUDA, 0, dq.p, k, d, dk.p, n, normalize, &pg, nullptr));
  const std::string name = "enqueue k " + std::to_string(k) + " d " + std::to_string(d) + " n " + std::to_string(n) +
                           " at " + std::to_string(pointer) + (normalize ? " normalised" : "");
  close(name, cpu, dq.down(), normalize ? 1e-6 : 0.0);
  record(pc == pg, name + " pointer", std::to_string(pc) + " vs " + std::to_string(pg));
}

void check_fill(int64_t count) {
  Dev<float> d(static_cast<size_t>(count));
  ok("fill", clsa_device_fill(0, d.p, count, 2.5f, nullptr));
  same("fill " + std::to_string(count), V(size_t(count), 2.5f), d.down());
}

void check_scan(int64_t rows, int64_t cols, int64_t nan_at, int64_t zero_row) {
  V x = randu(size_t(rows * cols));
  if (zero_row >= 0)
    for (int64_t c = 0; c < cols; ++c) x[size_t(zero_row * cols + c)] = 0.0f;
  if (nan_at >= 0) x[size_t(nan_at)] = NAN;
  int64_t a = -2, b = -2, c = -2, e = -2;
  ok("cpu scan", clsa_scan_rows(CLSA_DEVICE_CPU, 0, x.data(), rows, cols, &a, &b));
  Dev<float> d(x);
  ok("cuda scan", clsa_scan_rows(CLSA_DEVICE_CUDA, 0, d.p, rows, cols, &c, &e));
  record(a == c && b == e && a == nan_at && b == zero_row,
         "scan " + std::to_string(rows) + "x" + std::to_string(cols),
         "nonfinite " + std::to_string(c) + " zero row " + std::to_string(e));
}

}  // namespace

int main(int argc, char** argv) {
  start("emu_backend", argc, argv);
  for (int64_t count : {1, 5, 4 * 512 * 3 + 7, 40000})
    for (int skew : {0, 1}) check_ema(count, skew, 0.99f);
  check_enqueue(10, 7, 3, 8, false);   // wraps
  check_enqueue(10, 33, 3, 8, true);
  check_enqueue(6, 40, 9, 2, true);    // N > K: only the last K keys stay
  check_enqueue(64, 5, 17, 0, false);
  for (int64_t count : {1, 300, 70000}) check_fill(count);
  check_scan(13, 37, 5 * 37 + 3, 9);
  check_scan(9, 3, -1, -1);
  check_scan(20, 64, 19 * 64 + 63, 2);
  return finish();
}
