// The host execution layer for the CUDA sources (test infrastructure, never shipped): what a
// kernel body sees when native/src/cuda/*.cu is compiled by the host compiler. Included by the
// stand-in <cuda_runtime.h> of test/cuda-host/include, so the sources compile unchanged except
// for the <<<>>> launches and __shared__ declarations, which rewrite.js turns into calls of
// emu::launcher and emu::shared_var (the shipped build never sees either).
//
// Threads of a block are fibers on one OS thread (scheduler.cpp). Every barrier and every
// warp-synchronous operation is a scheduling point; between them the ready threads run in an
// order drawn from the run's seed, so a missing barrier shows as a read of poisoned shared memory.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- vector types and dim3 (global namespace, as CUDA has them) ----------------------------------
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) int2 {
  int x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

namespace emu {

// ---- the running thread --------------------------------------------------------------------------
struct ThreadState {
  uint3 tid;
  int linear, warp, lane;
};
extern ThreadState* g_current;  // the fiber running now (only valid inside a kernel)
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

// Emulated compute capability (major * 100 + minor * 10), from CLSA_EMU_SM (default 80).
int arch();
void set_arch(int cc);  // e.g. 750: the checks run the sm_75 paths in the same process

[[noreturn]] void kernel_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- scheduling points ---------------------------------------------------------------------------
void syncthreads();
// Generic warp-synchronous operation: every lane of `mask` deposits `bytes` of payload; the last
// one to arrive runs compute(all payloads, all results, mask) once for the warp; each lane gets its
// own result back. `what` names the operation (lanes meeting at different operations is an error).
using WarpCompute = void (*)(const unsigned char* payloads, unsigned char* results, unsigned mask, const void* ctx);
void warp_sync_op(unsigned mask, const char* what, const void* payload, size_t payload_bytes, void* result,
                  size_t result_bytes, WarpCompute compute, const void* ctx);
constexpr size_t kWarpSlot = 64;  // bytes of payload / result per lane

// ---- shared memory ---------------------------------------------------------------------------------
// Storage of one __shared__ declaration in the current block: allocated (poisoned) by the first
// thread that reaches it; `site` tells declarations apart.
void* shared_alloc(const void* site, size_t bytes, size_t align);
void* dynamic_shared();
template <class T>
T& shared_var(const void* site) {
  static_assert(std::is_trivially_destructible<T>::value, "__shared__ holds plain data");
  return *static_cast<T*>(shared_alloc(site, sizeof(T), alignof(T) < 16 ? 16 : alignof(T)));
}
template <class T>
T* dynamic_shared_as() {
  return static_cast<T*>(dynamic_shared());
}

// ---- launches ----------------------------------------------------------------------------------------
struct LaunchConfig {
  const char* name;       // the kernel expression as written at the launch site
  const void* fn;         // kernel identity (function pointer)
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
// Runs the grid to completion (blocks in a seeded random order, each block's threads as fibers).
// body(ctx) runs one thread's kernel body. Returns false (and sets the sticky launch error) when
// the configuration is invalid, as cudaLaunchKernel would.
bool run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx);
// A kernel's pointer argument must be null or point into (or one past) a device allocation: a host
// pointer would fault on the device, while the host emulator would read it silently.
void check_pointer_arg(const LaunchConfig& cfg, int index, const void* p);
template <class T>
void check_arg(const LaunchConfig& cfg, int index, const T& v) {
  if constexpr (std::is_pointer<T>::value) check_pointer_arg(cfg, index, static_cast<const void*>(v));
}

template <class... P>
struct Launcher {
  LaunchConfig cfg;
  void (*fn)(P...);
  template <class... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel argument count");
    // Parameters are converted and copied once at the launch, as CUDA copies them into constant
    // memory; each thread then calls the kernel with its own copy.
    struct Ctx {
      void (*fn)(P...);
      std::tuple<std::decay_t<P>...> params;
    } ctx{fn, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    std::apply([this](const auto&... p) {
      int i = 0;
      (check_arg(cfg, i++, p), ...);
    }, ctx.params);
    run_grid(cfg, [](void* c) {
      Ctx* x = static_cast<Ctx*>(c);
      std::apply(x->fn, x->params);
    }, &ctx);
  }
};
template <class... P>
Launcher<P...> launcher(const char* name, void (*fn)(P...), dim3 grid, dim3 block, size_t smem = 0,
                        cudaStream_t stream = nullptr) {
  return Launcher<P...>{{name, reinterpret_cast<const void*>(fn), grid, block, smem, stream}, fn};
}

// ---- number formats (ptx.cpp) ---------------------------------------------------------------------
uint16_t f32_to_f16_rn(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16_rn(float f);
float bf16_to_f32(uint16_t h);
uint32_t cvt_rna_tf32(float f);  // cvt.rna.tf32.f32: 10 mantissa bits, ties away from zero

// ---- PTX twins (ptx.cpp): the fragment layouts of the PTX ISA, lane by lane ---------------------
void mma_m16n8k8_tf32(float& c0, float& c1, float& c2, float& c3, const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void mma_m16n8k16_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void mma_m16n8k16_f16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void mma_m16n8k8_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0);
void ldmatrix_x4(uint32_t (&r)[4], const void* row_addr, bool trans);
// cp.async.cg (16 bytes; invalid: 16 zero bytes written, nothing read), commit_group, wait_group.
void cp_async16(void* smem, const void* gmem, bool valid);
void cp_async_commit();
void cp_async_wait(int pending);

}  // namespace emu

// ---- what kernel bodies name -------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __constant__ static

#define threadIdx (::emu::g_current->tid)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)

inline void __syncthreads() { ::emu::syncthreads(); }
void __syncwarp(unsigned mask = 0xffffffffu);
[[noreturn]] void __trap();

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32);
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32);
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32);
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32);
unsigned __ballot_sync(unsigned mask, int pred);
int __any_sync(unsigned mask, int pred);
int __all_sync(unsigned mask, int pred);

namespace emu {
// Every lane names the lane it reads; the value is up to 8 bytes.
struct ShflPayload {
  unsigned long long value;
  int src;
};
void shfl_compute(const unsigned char* p, unsigned char* r, unsigned mask, const void*);
template <class T>
T shfl(unsigned mask, T v, int src, const char* what) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of up to 8 bytes");
  ShflPayload p{0, src};
  std::memcpy(&p.value, &v, sizeof(T));
  unsigned long long out = 0;
  warp_sync_op(mask, what, &p, sizeof p, &out, sizeof out, shfl_compute, nullptr);
  T r;
  std::memcpy(&r, &out, sizeof(T));
  return r;
}
inline int lane_id() { return g_current->lane; }
}  // namespace emu

// `width` splits the warp into segments; a source outside the segment (or the warp) reads the
// thread's own value, as on the device.
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width) {
  const int l = emu::lane_id(), base = l & ~(width - 1), s = l ^ lane_mask;
  return emu::shfl(mask, v, (s >= base && s < base + width) ? s : l, "__shfl_xor_sync");
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width) {
  const int l = emu::lane_id(), base = l & ~(width - 1);
  return emu::shfl(mask, v, base + (src & (width - 1)), "__shfl_sync");
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width) {
  const int l = emu::lane_id(), base = l & ~(width - 1), s = l + int(delta);
  return emu::shfl(mask, v, s < base + width ? s : l, "__shfl_down_sync");
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width) {
  const int l = emu::lane_id(), base = l & ~(width - 1), s = l - int(delta);
  return emu::shfl(mask, v, s >= base ? s : l, "__shfl_up_sync");
}

// ---- atomics (fibers share one OS thread: a plain read-modify-write is atomic) ---------------------
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  const T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  *p = v > old ? v : old;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  const T old = *p;
  *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, T cmp, T v) {
  const T old = *p;
  if (old == cmp) *p = v;
  return old;
}

// ---- intrinsics -----------------------------------------------------------------------------------------
// The *_rn forms are exact IEEE operations; the emulated sources are compiled without FP
// contraction, so plain operators round each step as the device's _rn intrinsics do.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp2f(float x) { return std::exp2(x); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline int __float_as_int(float f) { return int(__float_as_uint(f)); }
inline float __int_as_float(int i) { return __uint_as_float(unsigned(i)); }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffs(unsigned x) { return __builtin_ffs(int(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
using std::isfinite;
using std::isinf;
using std::isnan;

// CUDA's global min/max overloads (the device code calls them unqualified on mixed widths).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
