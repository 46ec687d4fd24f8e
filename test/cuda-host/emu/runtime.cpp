// The CUDA runtime API on the host for the emulated tests: one device ("clsa host emulator",
// compute capability from CLSA_EMU_SM, default 8.0; CLSA_EMU_SMS multiprocessors, default 4),
// device memory is host memory (poisoned with 0xFF bytes like shared memory, since a device
// allocation starts with garbage), and every stream is synchronous: a kernel has finished when
// its launch returns.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "cuda_runtime.h"
#include "runtime_internal.h"

namespace {

cudaError_t g_last = cudaSuccess;
std::map<const char*, size_t> g_allocs;  // device allocations: start -> bytes
std::map<const void*, int> g_max_dyn_smem;
constexpr size_t kDefaultSmem = 48 * 1024;
constexpr size_t kTotalMem = size_t(16) << 30;

int sm_count() {
  const char* s = std::getenv("CLSA_EMU_SMS");
  return s && *s ? std::max(1, std::atoi(s)) : 4;
}
size_t optin_smem() { return emu::arch() >= 900 ? 227 * 1024 : emu::arch() >= 800 ? 163 * 1024 : 64 * 1024; }

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) g_last = e;
  return e;
}

// The allocation that holds [p, p + n), or null.
const char* owner(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  auto it = g_allocs.upper_bound(c);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  return (c >= it->first && c + n <= it->first + std::max<size_t>(it->second, 1)) ? it->first : nullptr;
}

}  // namespace

namespace emu::runtime {

cudaError_t check_launch(const LaunchConfig& c) {
  const unsigned long long threads = 1ull * c.block.x * c.block.y * c.block.z;
  if (threads == 0 || threads > 1024 || c.block.z > 64 || c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 ||
      c.grid.x > 0x7fffffffu || c.grid.y > 65535 || c.grid.z > 65535)
    return cudaErrorInvalidConfiguration;
  auto it = g_max_dyn_smem.find(c.fn);
  const size_t limit = it != g_max_dyn_smem.end() ? size_t(it->second) : kDefaultSmem;
  if (c.smem > limit) {
    std::fprintf(stderr, "emu: %s launched with %zu bytes of dynamic shared memory, above its limit %zu\n", c.name,
                 c.smem, limit);
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

void set_last_error(cudaError_t e) { g_last = e; }

void note_launch(const LaunchConfig& c) {
  // One line per kernel instantiation: its offset in the executable (the coverage script names it
  // with nm; a launch through a function pointer has no name at the call site) and the
  // expression at the launch site, and the executable.
  static std::set<const void*> seen;
  const char* path = std::getenv("CLSA_EMU_LAUNCH_LOG");
  if (!path || !*path || !seen.insert(c.fn).second) return;
  Dl_info info{};
  uintptr_t off = reinterpret_cast<uintptr_t>(c.fn);
  if (dladdr(c.fn, &info) && info.dli_fbase) off -= reinterpret_cast<uintptr_t>(info.dli_fbase);
  char exe[4096] = "";
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = 0;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%lx\t%s\t%s\n", (unsigned long)off, c.name, exe);
    std::fclose(f);
  }
}

}  // namespace emu::runtime

namespace emu {
void check_pointer_arg(const LaunchConfig& cfg, int index, const void* p) {
  if (!p) return;
  const char* c = static_cast<const char*>(p);
  auto it = g_allocs.upper_bound(c);
  if (it != g_allocs.begin()) {
    --it;
    if (c >= it->first && c <= it->first + it->second) return;
  }
  kernel_error("%s: argument %d (%p) is not device memory", cfg.name, index, p);
}
}  // namespace emu

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : cudaGetErrorName(e); }
cudaError_t cudaGetLastError() {
  const cudaError_t e = g_last;
  g_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return g_last; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) { return ret(dev == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int dev) {
  if (dev != 0) return ret(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "clsa host emulator");
  p->totalGlobalMem = kTotalMem;
  p->major = emu::arch() / 100;
  p->minor = emu::arch() / 10 % 10;
  p->multiProcessorCount = sm_count();
  p->sharedMemPerBlock = kDefaultSmem;
  p->sharedMemPerBlockOptin = optin_smem();
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int dev) {
  if (dev != 0) return ret(cudaErrorInvalidDevice);
  switch (a) {
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMultiProcessorCount: *v = sm_count(); break;
    case cudaDevAttrComputeCapabilityMajor: *v = emu::arch() / 100; break;
    case cudaDevAttrComputeCapabilityMinor: *v = emu::arch() / 10 % 10; break;
    default: return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  size_t used = 0;
  for (auto& kv : g_allocs) used += kv.second;
  *total_bytes = kTotalMem;
  *free_bytes = kTotalMem - std::min(used, kTotalMem);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  void* q = nullptr;
  // Exact size (no rounding up), so ASan reports an access one past the end.
  if (posix_memalign(&q, 256, bytes ? bytes : 1) != 0) {
    *p = nullptr;
    return ret(cudaErrorMemoryAllocation);
  }
  std::memset(q, 0xFF, bytes ? bytes : 1);
  g_allocs[static_cast<char*>(q)] = bytes;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  auto it = g_allocs.find(static_cast<char*>(p));
  if (it == g_allocs.end()) return ret(cudaErrorInvalidValue);
  g_allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t) { return cudaMalloc(p, bytes); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }

// A copy whose device side is not inside one device allocation is refused: on a device it would
// fault or corrupt another buffer.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind k) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
  const bool src_dev = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
  if ((dst_dev && !owner(dst, bytes)) || (src_dev && !owner(src, bytes))) {
    std::fprintf(stderr, "emu: cudaMemcpy of %zu bytes (kind %d) outside a device allocation (dst %p, src %p)\n", bytes,
                 int(k), dst, src);
    return ret(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind k, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, k);
}
cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  if (bytes && !owner(p, bytes)) return ret(cudaErrorInvalidValue);
  std::memset(p, v, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) { return cudaMemset(p, v, bytes); }
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  std::memset(a, 0, sizeof *a);
  if (owner(p, 1)) {
    a->type = cudaMemoryTypeDevice;
    a->device = 0;
    a->devicePointer = const_cast<void*>(p);
  } else {
    a->type = cudaMemoryTypeUnregistered;
    a->device = -2;
    a->hostPointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}

namespace {
struct EmuStream {
  int unused;
};
struct EmuEvent {
  std::chrono::steady_clock::time_point t;
};
}  // namespace
cudaError_t cudaStreamCreate(cudaStream_t* s) {
  *s = reinterpret_cast<cudaStream_t>(new EmuStream{});
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<EmuStream*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = reinterpret_cast<cudaEvent_t>(new EmuEvent{});
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmuEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  reinterpret_cast<EmuEvent*>(e)->t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(reinterpret_cast<EmuEvent*>(b)->t - reinterpret_cast<EmuEvent*>(a)->t).count();
  return cudaSuccess;
}

cudaError_t emu_func_set_attribute(const void* fn, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || size_t(value) > optin_smem())
    return ret(cudaErrorInvalidValue);
  g_max_dyn_smem[fn] = value;
  return cudaSuccess;
}
cudaError_t emu_occupancy(int* blocks, const void*, int threads, size_t smem) {
  const size_t per_sm_smem = optin_smem() + 1024;
  int by_smem = smem ? int(per_sm_smem / smem) : 32;
  int by_threads = threads > 0 ? 2048 / threads : 0;
  *blocks = std::max(0, std::min(by_smem, by_threads));
  return cudaSuccess;
}
