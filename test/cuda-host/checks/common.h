// Shared by the emulated check programs: device buffers, comparisons with a printed verdict,
// and the exit status (0 all passed, 1 a check failed).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "clsa/clsa.h"
#include "clsa/model.h"
#include "runtime_internal.h"

namespace emu_check {

extern std::mt19937_64 rng;

// Prints the seeds (data and emulator schedule) so a failure can be replayed.
void start(const char* program, int argc, char** argv);
int finish();  // summary line; the exit status

void record(bool pass, const std::string& what, const std::string& detail = "");
// max |got - ref| / max |ref| <= tol, and no non-finite value where ref is finite.
void close(const std::string& what, const std::vector<float>& ref, const std::vector<float>& got, double tol);
void close_d(const std::string& what, const std::vector<double>& ref, const std::vector<float>& got, double tol);
template <class T>
void same(const std::string& what, const std::vector<T>& ref, const std::vector<T>& got);
void ok(const std::string& what, clsa_status s);
// |a - ref| / |ref| over the whole vector (2-norms); infinity where a has a non-finite value.
double rel_norm(const std::vector<float>& a, const std::vector<float>& ref);
// |a - ref| / |ref| of one value; infinity where a is not finite.
double rel_err(double a, double ref);
// err <= tol, recorded with both in the detail.
void bound(const std::string& what, double err, double tol);
// A model's state buffer `b` (CLSA_MODEL_BUFFER_*), copied to the host.
std::vector<float> model_buffer(clsa_model* m, int32_t b);

std::vector<float> randu(size_t n, float lo = -1.0f, float hi = 1.0f);

template <class T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), count * sizeof(T) + 16) != cudaSuccess) std::abort();
  }
  Dev(const std::vector<T>& h) : Dev(h.size()) { up(h); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  void up(const std::vector<T>& h) { cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> down() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

}  // namespace emu_check
