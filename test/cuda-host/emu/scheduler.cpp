// Blocks, fibers and the scheduling points of the emulated kernels (see emu.h).
//
// A grid runs its blocks one after another in a seeded random order; a block runs each thread as
// a fiber (its own stack). The scheduler keeps a set of ready fibers and resumes a random one until it
// reaches a scheduling point (__syncthreads, a warp-synchronous operation) or returns. So between
// two barriers every interleaving of whole thread segments is possible and the seed picks one.
// Shared memory is poisoned (0xFF bytes: NaN as float, -1 as an integer) when a block starts.
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "runtime_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace emu {

ThreadState* g_current = nullptr;
uint3 g_block_idx{0, 0, 0};
dim3 g_block_dim, g_grid_dim;

namespace {

constexpr size_t kStackBytes = size_t(256) << 10;  // ASan frames are large; untouched pages cost nothing

struct PendingCopy {
  void* dst;
  const void* src;
  bool valid;
};

// The context switch. ucontext's swapcontext makes a system call per switch and, under ASan, its
// interceptor clears the shadow of the whole target stack every time; a warp shuffle costs 64
// switches, so on x86-64 a 20-instruction switch of the callee-saved registers replaces it.
#if defined(__x86_64__)
extern "C" void emu_switch(void** save_sp, void* new_sp);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  fldcw 4(%rsp)
  ldmxcsr (%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch,.-emu_switch
)");
struct Context {
  void* sp = nullptr;
};
void fiber_main();
void context_make(Context& c, char* stack, size_t bytes) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15);
  uint64_t* p = reinterpret_cast<uint64_t*>(top);
  *--p = 0;                                             // fake return address of fiber_main
  *--p = reinterpret_cast<uint64_t>(&fiber_main);       // emu_switch returns into fiber_main
  for (int i = 0; i < 6; ++i) *--p = 0;                 // rbp rbx r12 r13 r14 r15
  *--p = 0x1F80ull | (0x037Full << 32);                 // default MXCSR, x87 control word
  c.sp = p;
}
void context_switch(Context& from, Context& to) { emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void fiber_main();
void context_make(Context& c, char* stack, size_t bytes) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, fiber_main, 0);
}
void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

struct Fiber {
  ThreadState ts;
  Context ctx;
  char* stack = nullptr;
  enum State { Ready, AtBarrier, AtWarp, Done } state = Ready;
  std::vector<PendingCopy> open;                  // cp.async not yet committed
  std::vector<std::vector<PendingCopy>> groups;   // committed, oldest first
  void* fake_stack = nullptr;                     // ASan's per-fiber state
};

struct Warp {
  unsigned present = 0, exited = 0, arrived = 0, want = 0;
  const char* what = nullptr;
  alignas(16) unsigned char payload[32][kWarpSlot];
  alignas(16) unsigned char result[32][kWarpSlot];
};

struct SharedRange {
  char* p;
  size_t n;
};

struct Block {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  std::vector<int> ready;
  int live = 0, at_barrier = 0;
  std::map<std::string, void*> statics;
  std::vector<SharedRange> ranges;
  void* dyn = nullptr;
  void (*body)(void*) = nullptr;
  void* ctx = nullptr;
  const LaunchConfig* cfg = nullptr;
};

Block* g_block = nullptr;
Fiber* g_fiber = nullptr;
Context g_sched;
const void* g_sched_bottom = nullptr;
size_t g_sched_size = 0;
std::vector<char*> g_stack_pool;
std::mt19937_64 g_rng;
bool g_seeded = false;
unsigned long long g_seed = 0;
int g_arch = 0;

// A sanitizer report ends the process without passing through kernel_error: name the schedule
// there too, so the failure can be replayed.
void print_seed_on_death() {
  std::fprintf(stderr, "emu: emulator seed %llu (repeat with CLSA_EMU_SEED=%llu)\n", g_seed, g_seed);
  if (g_block && g_current)
    std::fprintf(stderr, "emu: in %s, block (%u,%u,%u), thread (%u,%u,%u)\n", g_block->cfg->name, g_block_idx.x,
                 g_block_idx.y, g_block_idx.z, g_current->tid.x, g_current->tid.y, g_current->tid.z);
}

void ensure_seeded() {
  if (g_seeded) return;
  g_seeded = true;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(print_seed_on_death);
#endif
  const char* s = std::getenv("CLSA_EMU_SEED");
  g_seed = s && *s ? std::strtoull(s, nullptr, 10) : (std::random_device{}() * 0x9E3779B97F4A7C15ull) ^ std::random_device{}();
  g_rng.seed(g_seed);
}

char* take_stack() {
  if (!g_stack_pool.empty()) {
    char* s = g_stack_pool.back();
    g_stack_pool.pop_back();
    return s;
  }
  void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) kernel_error("cannot map a fiber stack");
  mprotect(p, 4096, PROT_NONE);  // a stack overflow faults instead of corrupting the next stack
  return static_cast<char*>(p);
}

void* poisoned(size_t bytes, size_t align) {
  void* p = nullptr;
  if (posix_memalign(&p, std::max<size_t>(align, sizeof(void*)), bytes) != 0) kernel_error("out of host memory");
  std::memset(p, 0xFF, bytes);
  return p;
}

// Switches from the running fiber back to the scheduler; returns when the fiber is resumed.
void yield_to_scheduler() {
  Fiber* f = g_fiber;
#if EMU_ASAN
  __sanitizer_start_switch_fiber(f->state == Fiber::Done ? nullptr : &f->fake_stack, g_sched_bottom, g_sched_size);
#endif
  context_switch(f->ctx, g_sched);
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, &g_sched_bottom, &g_sched_size);
#endif
  g_current = &f->ts;
}

void make_ready(Block& b, Fiber& f) {
  f.state = Fiber::Ready;
  b.ready.push_back(int(&f - b.fibers.data()));
}

void release_barrier_if_complete(Block& b) {
  if (b.at_barrier == 0 || b.at_barrier < b.live) return;
  b.at_barrier = 0;
  for (Fiber& f : b.fibers)
    if (f.state == Fiber::AtBarrier) make_ready(b, f);
}

void fiber_main() {
  Fiber* f = g_fiber;
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_sched_bottom, &g_sched_size);
#endif
  g_current = &f->ts;
  g_block->body(g_block->ctx);
  Block& b = *g_block;
  f->state = Fiber::Done;
  f->open.clear();
  f->groups.clear();
  --b.live;
  Warp& w = b.warps[size_t(f->ts.warp)];
  const unsigned bit = 1u << f->ts.lane;
  w.exited |= bit;
  if (w.arrived && (w.want & bit) && !(w.arrived & bit))
    kernel_error("thread %d (warp %d lane %d) returned while its warp waits for it at %s (mask %08x)", f->ts.linear,
                 f->ts.warp, f->ts.lane, w.what, w.want);
  release_barrier_if_complete(b);
  yield_to_scheduler();
  std::abort();  // never resumed
}

void describe_deadlock(const Block& b) {
  std::fprintf(stderr, "emu: deadlock in block (%u,%u,%u) of %s:\n", g_block_idx.x, g_block_idx.y, g_block_idx.z,
               b.cfg->name);
  int shown = 0;
  for (const Fiber& f : b.fibers) {
    if (f.state == Fiber::Done || shown++ > 8) continue;
    const Warp& w = b.warps[size_t(f.ts.warp)];
    std::fprintf(stderr, "  thread %d (warp %d lane %d) waits at %s\n", f.ts.linear, f.ts.warp, f.ts.lane,
                 f.state == Fiber::AtBarrier ? "__syncthreads" : w.what ? w.what : "?");
  }
}

void run_block(Block& b) {
  const dim3 bd = g_block_dim;
  const int n = int(bd.x * bd.y * bd.z);
  b.fibers.assign(size_t(n), Fiber{});
  b.warps.assign(size_t((n + 31) / 32), Warp{});
  b.ready.clear();
  b.live = n;
  b.at_barrier = 0;
  b.dyn = poisoned(b.cfg->smem, 16);
  b.ranges.push_back({static_cast<char*>(b.dyn), b.cfg->smem});
  for (int i = 0; i < n; ++i) {
    Fiber& f = b.fibers[size_t(i)];
    f.ts.tid = {unsigned(i) % bd.x, (unsigned(i) / bd.x) % bd.y, unsigned(i) / (bd.x * bd.y)};
    f.ts.linear = i;
    f.ts.warp = i / 32;
    f.ts.lane = i % 32;
    b.warps[size_t(i / 32)].present |= 1u << (i % 32);
    f.stack = take_stack();
    context_make(f.ctx, f.stack, kStackBytes);
    b.ready.push_back(i);
  }
  while (!b.ready.empty()) {
    const size_t k = size_t(g_rng() % b.ready.size());
    const int idx = b.ready[k];
    b.ready[k] = b.ready.back();
    b.ready.pop_back();
    Fiber& f = b.fibers[size_t(idx)];
    g_fiber = &f;
#if EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack, kStackBytes);
#endif
    context_switch(g_sched, f.ctx);
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    g_current = nullptr;
  }
  for (const Fiber& f : b.fibers)
    if (f.state != Fiber::Done) {
      describe_deadlock(b);
      kernel_error("deadlock: threads wait at a barrier or warp operation that can never complete");
    }
  for (Fiber& f : b.fibers) g_stack_pool.push_back(f.stack);
  for (auto& kv : b.statics) std::free(kv.second);
  b.statics.clear();
  b.ranges.clear();
  std::free(b.dyn);
  b.dyn = nullptr;
}

bool in_shared(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (const SharedRange& r : g_block->ranges)
    if (c >= r.p && c + bytes <= r.p + r.n) return true;
  return false;
}

}  // namespace

unsigned long long seed() {
  ensure_seeded();
  return g_seed;
}

int arch() {
  if (!g_arch) {
    const char* s = std::getenv("CLSA_EMU_SM");
    g_arch = s && *s ? std::atoi(s) * 10 : 800;
  }
  return g_arch;
}

void set_arch(int cc) { g_arch = cc; }

void kernel_error(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "emu: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (g_block && g_current)
    std::fprintf(stderr, "\n  in %s, block (%u,%u,%u), thread (%u,%u,%u)", g_block->cfg->name, g_block_idx.x,
                 g_block_idx.y, g_block_idx.z, g_current->tid.x, g_current->tid.y, g_current->tid.z);
  std::fprintf(stderr, "\n  emulator seed %llu (repeat with CLSA_EMU_SEED=%llu)\n", g_seed, g_seed);
  std::abort();
}

void syncthreads() {
  Block& b = *g_block;
  Fiber& f = *g_fiber;
  f.state = Fiber::AtBarrier;
  ++b.at_barrier;
  release_barrier_if_complete(b);
  yield_to_scheduler();
}

void warp_sync_op(unsigned mask, const char* what, const void* payload, size_t payload_bytes, void* result,
                  size_t result_bytes, WarpCompute compute, const void* ctx) {
  Block& b = *g_block;
  Fiber& f = *g_fiber;
  Warp& w = b.warps[size_t(f.ts.warp)];
  const unsigned bit = 1u << f.ts.lane;
  if (!(mask & bit)) kernel_error("%s: the calling lane %d is not in the mask %08x", what, f.ts.lane, mask);
  if (mask & ~w.present) kernel_error("%s: mask %08x names lanes that do not exist (present %08x)", what, mask, w.present);
  if (mask & w.exited) kernel_error("%s: mask %08x names lanes that have returned (%08x)", what, mask, w.exited & mask);
  if (w.arrived == 0) {
    w.want = mask;
    w.what = what;
  } else if (w.want != mask || std::strcmp(w.what, what) != 0) {
    kernel_error("warp %d: lane %d reached %s (mask %08x) while other lanes wait at %s (mask %08x)", f.ts.warp,
                 f.ts.lane, what, mask, w.what, w.want);
  }
  if (payload_bytes > kWarpSlot || result_bytes > kWarpSlot) kernel_error("%s: payload too large", what);
  if (payload_bytes) std::memcpy(w.payload[f.ts.lane], payload, payload_bytes);
  w.arrived |= bit;
  if (w.arrived == w.want) {
    compute(&w.payload[0][0], &w.result[0][0], mask, ctx);
    w.arrived = 0;
    for (int l = 0; l < 32; ++l) {
      Fiber& o = b.fibers[size_t(f.ts.warp * 32 + l)];
      if ((mask >> l & 1) && o.state == Fiber::AtWarp) make_ready(b, o);
    }
    make_ready(b, f);  // the completing lane also waits its turn: the order stays random
  } else {
    f.state = Fiber::AtWarp;
  }
  yield_to_scheduler();
  if (result_bytes) std::memcpy(result, w.result[f.ts.lane], result_bytes);
}

void* shared_alloc(const void* site, size_t bytes, size_t align) {
  Block& b = *g_block;
  const std::string key = static_cast<const char*>(site);
  auto it = b.statics.find(key);
  if (it != b.statics.end()) return it->second;
  void* p = poisoned(bytes, align);
  b.statics.emplace(key, p);
  b.ranges.push_back({static_cast<char*>(p), bytes});
  return p;
}

void* dynamic_shared() { return g_block->dyn; }

void cp_async16(void* smem, const void* gmem, bool valid) {
  if (!in_shared(smem, 16)) kernel_error("cp.async: destination %p is not 16 bytes of shared memory", smem);
  if ((reinterpret_cast<uintptr_t>(smem) | (valid ? reinterpret_cast<uintptr_t>(gmem) : 0)) & 15)
    kernel_error("cp.async: addresses %p <- %p are not 16-byte aligned", smem, gmem);
  g_fiber->open.push_back({smem, gmem, valid});
}

void cp_async_commit() {
  Fiber& f = *g_fiber;
  f.groups.push_back(std::move(f.open));
  f.open.clear();
}

// The copies land only when a wait covers their group: a read of the tile before the wait sees
// the poison (or the previous tile), as it could on the device.
void cp_async_wait(int pending) {
  Fiber& f = *g_fiber;
  while (int(f.groups.size()) > pending) {
    for (const PendingCopy& c : f.groups.front()) {
      if (c.valid)
        std::memcpy(c.dst, c.src, 16);
      else
        std::memset(c.dst, 0, 16);
    }
    f.groups.erase(f.groups.begin());
  }
}

bool shared_ptr_ok(const void* p, size_t bytes) { return g_block && in_shared(p, bytes); }

bool run_grid(const LaunchConfig& cfg, void (*body)(void*), void* ctx) {
  ensure_seeded();
  const cudaError_t bad = runtime::check_launch(cfg);
  if (bad != cudaSuccess) {
    runtime::set_last_error(bad);
    return false;
  }
  runtime::note_launch(cfg);
  if (g_block) kernel_error("a kernel launched from inside a kernel");
  Block b;
  b.body = body;
  b.ctx = ctx;
  b.cfg = &cfg;
  g_block = &b;
  g_grid_dim = cfg.grid;
  g_block_dim = cfg.block;
  std::vector<uint3> order;
  order.reserve(size_t(cfg.grid.x) * cfg.grid.y * cfg.grid.z);
  for (unsigned z = 0; z < cfg.grid.z; ++z)
    for (unsigned y = 0; y < cfg.grid.y; ++y)
      for (unsigned x = 0; x < cfg.grid.x; ++x) order.push_back({x, y, z});
  std::shuffle(order.begin(), order.end(), g_rng);
  for (const uint3& bi : order) {
    g_block_idx = bi;
    run_block(b);
  }
  g_block = nullptr;
  return true;
}

}  // namespace emu

void __syncwarp(unsigned mask) {
  emu::warp_sync_op(mask, "__syncwarp", nullptr, 0, nullptr, 0, [](const unsigned char*, unsigned char*, unsigned, const void*) {}, nullptr);
}

void __trap() { emu::kernel_error("__trap() called"); }

namespace emu {
void shfl_compute(const unsigned char* p, unsigned char* r, unsigned mask, const void*) {
  for (int l = 0; l < 32; ++l) {
    if (!(mask >> l & 1)) continue;
    ShflPayload me;
    std::memcpy(&me, p + l * kWarpSlot, sizeof me);
    if (!(mask >> me.src & 1)) kernel_error("shuffle: lane %d reads lane %d, which is not in the mask %08x", l, me.src, mask);
    ShflPayload src;
    std::memcpy(&src, p + me.src * kWarpSlot, sizeof src);
    std::memcpy(r + l * kWarpSlot, &src.value, 8);
  }
}
}  // namespace emu

namespace {
void vote(unsigned mask, int pred, unsigned* ballot) {
  const int v = pred != 0;
  emu::warp_sync_op(mask, "vote", &v, sizeof v, ballot, sizeof *ballot,
                    [](const unsigned char* p, unsigned char* r, unsigned m, const void*) {
                      unsigned bits = 0;
                      for (int l = 0; l < 32; ++l)
                        if (m >> l & 1) {
                          int x;
                          std::memcpy(&x, p + l * emu::kWarpSlot, sizeof x);
                          if (x) bits |= 1u << l;
                        }
                      for (int l = 0; l < 32; ++l) std::memcpy(r + l * emu::kWarpSlot, &bits, sizeof bits);
                    },
                    nullptr);
}
}  // namespace

unsigned __ballot_sync(unsigned mask, int pred) {
  unsigned b;
  vote(mask, pred, &b);
  return b;
}
int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }
