// The NCCL back end: libnccl.so.2 opened with dlopen, so libclsa has no link-time dependency on it
// (nor on its headers), bootstrapped over the MPI back end, which also serves the barrier.
//
// The few declarations below are copied from NCCL's public header (src/nccl.h.in, stable since
// 2.10): ncclUniqueId is 128 bytes passed by value, the enums are ints, ncclComm_t and
// cudaStream_t are pointers. ncclAvg (the MEAN op) appeared in 2.10, the oldest version accepted.
#include <dlfcn.h>
#include <glob.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "../internal.h"
#include "backend.h"
#ifdef CLSA_WITH_CUDA
#include "../cuda/cuda_api.h"
#endif

namespace clsa::comm {
namespace {

constexpr const char* kDefaultLibrary = "libnccl.so.2";
constexpr int kSuccess = 0;                  // ncclSuccess
constexpr int kInvalidArgument = 4;          // ncclInvalidArgument
constexpr int kInvalidUsage = 5;             // ncclInvalidUsage
constexpr int kUint64 = 5, kFloat32 = 7;     // ncclUint64, ncclFloat32
constexpr int kSum = 0, kAvg = 4;            // ncclSum, ncclAvg
constexpr int kMinVersion = 21000;           // NCCL_VERSION(2, 10, 0): ncclAvg
constexpr size_t kUniqueIdBytes = 128;       // NCCL_UNIQUE_ID_BYTES
struct UniqueId {
  char internal[kUniqueIdBytes];
};
using NcclComm = void*;  // ncclComm_t

// Where CUDA installations and PyTorch's pip wheels (nvidia-nccl-cu*) keep NCCL, tried after the
// loader's own search path when neither options.library nor $CLSA_NCCL_LIBRARY names a file. A
// leading $VAR is that environment variable (the pattern is skipped when it is unset).
const char* const kCandidates[] = {
    "/usr/local/cuda/lib64/libnccl.so.2",
    "$CONDA_PREFIX/lib/libnccl.so.2",
    "$VIRTUAL_ENV/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "$CONDA_PREFIX/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "$HOME/.local/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/local/lib/python3*/dist-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/local/lib/python3*/site-packages/nvidia/nccl/lib/libnccl.so.2",
    "/usr/lib/python3/dist-packages/nvidia/nccl/lib/libnccl.so.2",
};

// The process-wide library: loaded once, shared by every NCCL communicator of the process.
struct Nccl {
  std::mutex mutex;  // guards loading
  void* dl = nullptr;
  std::string library;
  int version = 0;
  char version_text[64] = {0};

  int (*GetVersion)(int*);
  int (*GetUniqueId)(UniqueId*);
  int (*CommInitRank)(NcclComm*, int, UniqueId, int);
  int (*AllReduce)(const void*, void*, size_t, int, int, NcclComm, void*);
  int (*AllGather)(const void*, void*, size_t, int, NcclComm, void*);
  int (*Broadcast)(const void*, void*, size_t, int, int, NcclComm, void*);
  int (*CommDestroy)(NcclComm);
  int (*CommAbort)(NcclComm);
  const char* (*GetErrorString)(int);
  const char* (*GetLastError)(NcclComm) = nullptr;  // 2.13 and later: optional
};

Nccl& nccl() {
  static Nccl* n = new Nccl();  // never destroyed, as the MPI back end's state
  return *n;
}

const char* result_name(int rc) {
  static const char* const names[] = {"ncclSuccess",       "ncclUnhandledCudaError", "ncclSystemError",
                                      "ncclInternalError", "ncclInvalidArgument",    "ncclInvalidUsage",
                                      "ncclRemoteError",   "ncclInProgress",         "ncclTimeout"};
  return rc >= 0 && rc < int(sizeof names / sizeof names[0]) ? names[rc] : "an unknown ncclResult_t";
}

// A failed NCCL call as a status: the call, the rank, NCCL's own text and, where the library
// keeps one, its last detailed message. Bad arguments or usage are the caller's; the rest are
// failures of the job (a peer, the network, the GPU).
clsa_status nccl_error(const Nccl& n, int rc, const char* call, int rank, int size, NcclComm comm = nullptr) {
  const char* text = n.GetErrorString ? n.GetErrorString(rc) : nullptr;
  const char* last = n.GetLastError && comm ? n.GetLastError(comm) : nullptr;
  const clsa_status s = rc == kInvalidArgument || rc == kInvalidUsage ? CLSA_ERR_INVALID_ARGUMENT : CLSA_ERR_COMM;
  return fail(s, "%s failed on rank %d of %d: %s (%s, NCCL error %d)%s%s", call, rank, size, text ? text : "no description",
              result_name(rc), rc, last && *last ? "; NCCL says: " : "", last && *last ? last : "");
}

template <typename F>
bool bind(void* dl, const char* name, F*& out) {
  out = reinterpret_cast<F*>(dlsym(dl, name));
  return out != nullptr;
}

// The files the candidate patterns match (globbed); *looked lists the patterns, $VARs expanded, for the error.
std::vector<std::string> candidate_files(std::string* looked) {
  std::vector<std::string> files;
  for (const char* pattern : kCandidates) {
    std::string p = pattern;
    if (p[0] == '$') {
      const size_t slash = p.find('/');
      const char* value = std::getenv(p.substr(1, slash - 1).c_str());
      if (!value || !*value) continue;
      p = value + p.substr(slash);
    }
    *looked += (looked->empty() ? "" : ", ") + p;
    glob_t g;
    if (glob(p.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return files;
}

// dlopen of what was asked for; with nothing asked for, the default soname and then the candidates.
clsa_status open_library(const char* requested, void** dl, std::string* opened) {
  const char* env = std::getenv("CLSA_NCCL_LIBRARY");
  const char* library = requested && *requested ? requested : env && *env ? env : kDefaultLibrary;
  const char* source = requested && *requested ? "options.library" : env && *env ? "$CLSA_NCCL_LIBRARY" : "the default soname";
  *dl = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (*dl) {
    *opened = library;
    return CLSA_OK;
  }
  const char* why = dlerror();
  std::string reason = why ? why : "unknown loader error";
  std::string looked;
  const bool named = (requested && *requested) || (env && *env);
  if (!named) {  // a named library is that file alone
    for (const std::string& f : candidate_files(&looked)) {
      if ((*dl = dlopen(f.c_str(), RTLD_NOW | RTLD_LOCAL))) {
        *opened = f;
        return CLSA_OK;
      }
      const char* e = dlerror();
      reason += "; " + f + ": " + (e ? e : "unknown loader error");
    }
  }
  return fail(CLSA_ERR_UNSUPPORTED,
              "NCCL back end: could not load the NCCL library \"%s\" (%s): %s%s%s%s. GPU ranks need NCCL 2.10 or later "
              "(a CUDA installation's libnccl2 package, or PyTorch's nvidia-nccl wheel), or CLSA_NCCL_LIBRARY set to "
              "the path of its libnccl.so.2; single-process training does not need it",
              library, source, reason.c_str(), looked.empty() ? "" : "; also looked for ", looked.c_str(),
              looked.empty() ? "" : " (nothing loadable there)");
}

clsa_status load(Nccl& n, const char* requested) {
  const char* env = std::getenv("CLSA_NCCL_LIBRARY");
  const char* asked = requested && *requested ? requested : env && *env ? env : nullptr;
  if (n.dl) {
    if (asked && n.library != asked)
      return fail(CLSA_ERR_INVALID_ARGUMENT,
                  "options.library: NCCL is already loaded in this process from \"%s\" but got \"%s\"; one NCCL per process",
                  n.library.c_str(), asked);
    return CLSA_OK;
  }
  void* dl = nullptr;
  std::string library;
  CLSA_TRY(open_library(requested, &dl, &library));
  bool ok = bind(dl, "ncclGetVersion", n.GetVersion) && bind(dl, "ncclGetUniqueId", n.GetUniqueId) &&
            bind(dl, "ncclCommInitRank", n.CommInitRank) && bind(dl, "ncclAllReduce", n.AllReduce) &&
            bind(dl, "ncclAllGather", n.AllGather) && bind(dl, "ncclBroadcast", n.Broadcast) &&
            bind(dl, "ncclCommDestroy", n.CommDestroy) && bind(dl, "ncclCommAbort", n.CommAbort) &&
            bind(dl, "ncclGetErrorString", n.GetErrorString);
  if (!ok) {
    dlclose(dl);
    return fail(CLSA_ERR_UNSUPPORTED,
                "NCCL back end: \"%s\" loaded but lacks NCCL functions (ncclCommInitRank, ncclAllReduce, ...): not NCCL 2",
                library.c_str());
  }
  bind(dl, "ncclGetLastError", n.GetLastError);
  int version = 0;
  if (n.GetVersion(&version) != kSuccess || version < kMinVersion) {
    dlclose(dl);
    return fail(CLSA_ERR_UNSUPPORTED,
                "NCCL back end: \"%s\" is NCCL version code %d but clsa needs 2.10 or later (code >= %d, for ncclAvg)",
                library.c_str(), version, kMinVersion);
  }
  // NCCL_VERSION(X, Y, Z): X * 1000 + Y * 100 + Z up to 2.8, X * 10000 + Y * 100 + Z after.
  std::snprintf(n.version_text, sizeof n.version_text, "NCCL %d.%d.%d", version / 10000, version % 10000 / 100,
                version % 100);
  n.version = version;
  n.dl = dl;
  n.library = library;
  return CLSA_OK;
}

// Makes device_index current for NCCL, which ties a communicator to the calling thread's device.
// CLSA_OK with *visible = false when this process sees no GPU at all (no driver, or a build
// without CUDA): the device is then left to the library, a real NCCL fails in ncclCommInitRank
// with its own message (completed by *why), and a host-memory stand-in (test/fake-nccl) works.
clsa_status select_device(int32_t device_index, bool* visible, std::string* why) {
  *visible = false;
#ifdef CLSA_WITH_CUDA
  const clsa_status s = cuda::check_device(device_index);
  if (s == CLSA_ERR_INVALID_ARGUMENT)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "options->device_index: expected a GPU this process sees but got %d (%s)",
                device_index, std::string(clsa_last_error()).c_str());
  if (s != CLSA_OK) {
    *why = clsa_last_error();
    return CLSA_OK;
  }
  CLSA_TRY(cuda::use_device(device_index));
  *visible = true;
#else
  (void)device_index;
  *why = "this libclsa was built without CUDA";
#endif
  return CLSA_OK;
}

class NcclBackend : public Backend {
 public:
  NcclBackend(Nccl& n, std::unique_ptr<Backend> mpi, NcclComm comm, int rank, int size, int32_t device, bool visible)
      : n_(n), mpi_(std::move(mpi)), comm_(comm), rank_(rank), size_(size), device_(device), visible_(visible) {}
  ~NcclBackend() override {
    if (NcclComm c = comm_.exchange(nullptr)) n_.CommDestroy(c);
  }

  clsa_status all_reduce(const void* send, void* recv, int64_t count, int32_t dtype, int32_t op, void* stream) override {
    std::lock_guard<std::mutex> lock(mutex_);
    CLSA_TRY(ready());
    NcclComm c = comm_;
    const int rc = n_.AllReduce(send, recv, size_t(count), type(dtype), op == CLSA_COMM_MEAN ? kAvg : kSum, c, stream);
    return rc == kSuccess ? CLSA_OK : nccl_error(n_, rc, "ncclAllReduce", rank_, size_, c);
  }

  // In place when send == recv + rank * count, which NCCL recognises itself.
  clsa_status all_gather(const void* send, void* recv, int64_t count, int32_t dtype, void* stream) override {
    std::lock_guard<std::mutex> lock(mutex_);
    CLSA_TRY(ready());
    NcclComm c = comm_;
    const int rc = n_.AllGather(send, recv, size_t(count), type(dtype), c, stream);
    return rc == kSuccess ? CLSA_OK : nccl_error(n_, rc, "ncclAllGather", rank_, size_, c);
  }

  clsa_status broadcast(void* buf, int64_t count, int32_t dtype, int32_t root, void* stream) override {
    std::lock_guard<std::mutex> lock(mutex_);
    CLSA_TRY(ready());
    NcclComm c = comm_;
    const int rc = n_.Broadcast(buf, buf, size_t(count), type(dtype), root, c, stream);
    return rc == kSuccess ? CLSA_OK : nccl_error(n_, rc, "ncclBroadcast", rank_, size_, c);
  }

  // The ranks' host threads meet (MPI); collectives already enqueued on streams may still run.
  clsa_status barrier() override { return mpi_->barrier(); }

  // The NCCL communicator first (ncclCommDestroy waits for nothing the job still needs: every rank
  // has made its last collective), then MPI, which bootstrapped it.
  clsa_status finalize() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (NcclComm c = comm_.exchange(nullptr)) {
      const int rc = n_.CommDestroy(c);
      if (rc != kSuccess) return nccl_error(n_, rc, "ncclCommDestroy", rank_, size_);
    }
    return mpi_->finalize();
  }

  // No lock: the rank that aborts may be the one stuck in a collective on another thread (hence
  // the atomic handle). ncclCommAbort stops this rank's kernels and frees the communicator;
  // MPI_Abort ends every rank.
  clsa_status abort(int32_t code) override {
    if (NcclComm c = comm_.exchange(nullptr)) n_.CommAbort(c);
    return mpi_->abort(code);
  }

 private:
  static int type(int32_t dtype) { return dtype == CLSA_COMM_UINT64 ? kUint64 : kFloat32; }
  // NCCL enqueues on the current device's context: collectives may come from any libuv worker.
  clsa_status ready() {
    if (!comm_)
      return fail(CLSA_ERR_UNSUPPORTED, "comm: the NCCL communicator has been finalised (clsa_comm_finalize); no collective can run");
#ifdef CLSA_WITH_CUDA
    if (visible_) CLSA_TRY(cuda::use_device(device_));
#endif
    return CLSA_OK;
  }
  Nccl& n_;
  std::unique_ptr<Backend> mpi_;
  std::mutex mutex_;
  std::atomic<NcclComm> comm_;
  int rank_, size_;
  int32_t device_;
  bool visible_;
};

// Every rank's status for one stage of the creation, over MPI: CLSA_OK when every rank's is, else
// the failure, on the failing rank with its own message and on the others naming that rank.
clsa_status agree(Backend& mpi, const clsa_comm_info& world, clsa_status mine, const char* stage) {
  std::string message = clsa_last_error();
  uint64_t me = uint64_t(mine);
  std::vector<uint64_t> all(size_t(world.size));
  CLSA_TRY(mpi.all_gather(&me, all.data(), 1, CLSA_COMM_UINT64, nullptr));
  if (mine != CLSA_OK) return fail(mine, "%s", message.c_str());
  for (int32_t r = 0; r < world.size; ++r)
    if (all[size_t(r)] != uint64_t(CLSA_OK))
      return fail(clsa_status(all[size_t(r)]), "NCCL back end: rank %d of %d could not %s (its own error says why); every rank needs it",
                  r, world.size, stage);
  return CLSA_OK;
}

}  // namespace

clsa_status open_nccl(const clsa_comm_options& options, clsa_comm_info* info, std::unique_ptr<Backend>* out) {
  Nccl& n = nccl();
  // The library first, on this rank alone: when MPI is missing as well, NCCL's absence is the news.
  clsa_status loaded;
  std::string load_error;
  {
    std::lock_guard<std::mutex> lock(n.mutex);
    loaded = load(n, options.library);
    if (loaded != CLSA_OK) load_error = clsa_last_error();
  }
  clsa_comm_info world;
  std::memset(&world, 0, sizeof world);
  std::unique_ptr<Backend> mpi;
  const clsa_status started = open_mpi(nullptr, &world, &mpi);
  if (started != CLSA_OK) {
    if (loaded != CLSA_OK) return fail(loaded, "%s", load_error.c_str());
    return fail(started, "NCCL back end: NCCL is bootstrapped over MPI, which could not start: %s", clsa_last_error());
  }
  if (loaded != CLSA_OK) fail(loaded, "%s", load_error.c_str());
  CLSA_TRY(agree(*mpi, world, loaded, "load the NCCL library"));

  const int32_t device = options.device_index < 0 ? world.local_rank : options.device_index;
  bool visible = false;
  std::string no_device;
  CLSA_TRY(agree(*mpi, world, select_device(device, &visible, &no_device), "use its GPU"));

  // Rank 0's unique id to every rank, with rank 0's status in the same message: a rank 0 that
  // failed must not leave the others waiting in ncclCommInitRank.
  uint64_t id[kUniqueIdBytes / 8 + 1] = {0};
  if (world.rank == 0) {
    UniqueId u;
    const int rc = n.GetUniqueId(&u);
    std::memcpy(id, &u, kUniqueIdBytes);
    id[kUniqueIdBytes / 8] = rc == kSuccess ? uint64_t(CLSA_OK) : uint64_t(nccl_error(n, rc, "ncclGetUniqueId", 0, world.size));
  }
  CLSA_TRY(mpi->broadcast(id, kUniqueIdBytes / 8 + 1, CLSA_COMM_UINT64, 0, nullptr));
  if (id[kUniqueIdBytes / 8] != uint64_t(CLSA_OK)) {
    if (world.rank == 0) return clsa_status(id[kUniqueIdBytes / 8]);
    return fail(clsa_status(id[kUniqueIdBytes / 8]), "NCCL back end: rank 0 could not create the NCCL unique id (its error says why)");
  }
  UniqueId u;
  std::memcpy(&u, id, kUniqueIdBytes);
  NcclComm comm = nullptr;
  const int rc = n.CommInitRank(&comm, world.size, u, world.rank);
  if (rc != kSuccess) {
    const clsa_status s = nccl_error(n, rc, "ncclCommInitRank", world.rank, world.size);
    if (visible) return s;
    return fail(s, "%s; note: this process sees no usable GPU (%s)", std::string(clsa_last_error()).c_str(),
                no_device.c_str());
  }

  *info = world;
  info->backend = CLSA_COMM_NCCL;
  info->device = CLSA_DEVICE_CUDA;
  info->device_index = device;
  std::snprintf(info->library, sizeof info->library, "%s", n.library.c_str());
  std::snprintf(info->version, sizeof info->version, "%s", n.version_text);
  out->reset(new NcclBackend(n, std::move(mpi), comm, world.rank, world.size, device, visible));
  return CLSA_OK;
}

}  // namespace clsa::comm
