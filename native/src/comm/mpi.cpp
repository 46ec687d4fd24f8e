// The MPI back end: Open MPI opened with dlopen, so libclsa has no link-time dependency on it.
//
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of exported
// globals (mpi.h: OMPI_PREDEFINED_GLOBAL), so dlsym of those names gives the handles themselves;
// the few constants that are plain numbers (MPI_IN_PLACE, the thread levels, MPI_COMM_TYPE_SHARED)
// are copied from Open MPI 4.1's mpi.h below. MPICH-family libraries use integer handles: a
// library without Open MPI's globals is refused rather than misread.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "../internal.h"
#include "backend.h"

namespace clsa::comm {
namespace {

constexpr const char* kDefaultLibrary = "libmpi.so.40";
constexpr int kSuccess = 0;               // MPI_SUCCESS
constexpr int kThreadSerialized = 2;      // MPI_THREAD_SERIALIZED
constexpr int kCommTypeShared = 0;        // MPI_COMM_TYPE_SHARED
constexpr int kMaxErrorString = 256;      // MPI_MAX_ERROR_STRING
constexpr int kMaxVersionString = 256;    // MPI_MAX_LIBRARY_VERSION_STRING
void* const kInPlace = reinterpret_cast<void*>(1);  // MPI_IN_PLACE

using Handle = void*;  // MPI_Comm, MPI_Datatype, MPI_Op, MPI_Info, MPI_Errhandler: all pointers in Open MPI

// The process-wide MPI: one library, initialised once, its calls serialised (MPI_THREAD_SERIALIZED
// allows any thread to call, never two at once; steps run on changing libuv threads).
struct Mpi {
  std::mutex mutex;
  void* dl = nullptr;
  std::string library;
  bool started = false, we_initialised = false, finalised = false;
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  char version[kMaxVersionString] = {0};

  int (*Initialized)(int*);
  int (*Finalized)(int*);
  int (*Init_thread)(int*, char***, int, int*);
  int (*Comm_rank)(Handle, int*);
  int (*Comm_size)(Handle, int*);
  int (*Comm_split_type)(Handle, int, int, Handle, Handle*);
  int (*Comm_free)(Handle*);
  int (*Comm_set_errhandler)(Handle, Handle);
  int (*Allreduce)(const void*, void*, int, Handle, Handle, Handle);
  int (*Allgather)(const void*, int, Handle, void*, int, Handle, Handle);
  int (*Bcast)(void*, int, Handle, int, Handle);
  int (*Barrier)(Handle);
  int (*Finalize)();
  int (*Abort)(Handle, int);
  int (*Error_string)(int, char*, int*);
  int (*Get_library_version)(char*, int*);
  Handle world, float32, uint64, sum, errors_return, info_null;
};

Mpi& mpi() {
  static Mpi* m = new Mpi();  // never destroyed: MPI may be finalised from an exit handler after statics die
  return *m;
}

clsa_status mpi_error(Mpi& m, int rc, const char* what) {
  char text[kMaxErrorString + 1] = {0};
  int len = 0;
  if (m.Error_string(rc, text, &len) != kSuccess) std::snprintf(text, sizeof text, "no description");
  return fail(CLSA_ERR_COMM, "%s failed on rank %d of %d: %s (MPI error %d)", what, m.rank, m.size, text, rc);
}

template <typename F>
bool bind(void* dl, const char* name, F*& out) {
  out = reinterpret_cast<F*>(dlsym(dl, name));
  return out != nullptr;
}

// dlopen with RTLD_GLOBAL: Open MPI loads its components (mca_*.so) with dlopen too, and they
// resolve their references to libmpi/libopen-pal through the global namespace.
clsa_status load(Mpi& m, const char* requested) {
  const char* env = std::getenv("CLSA_MPI_LIBRARY");
  const char* library = requested && *requested ? requested : env && *env ? env : kDefaultLibrary;
  const char* source = requested && *requested ? "options.library" : env && *env ? "$CLSA_MPI_LIBRARY" : "the default soname";
  if (m.dl) {
    if (m.library != library)
      return fail(CLSA_ERR_INVALID_ARGUMENT,
                  "options.library: MPI is already loaded in this process from \"%s\" but got \"%s\" (%s); one MPI per process",
                  m.library.c_str(), library, source);
    return CLSA_OK;
  }
  void* dl = dlopen(library, RTLD_NOW | RTLD_GLOBAL);
  if (!dl) {
    const char* why = dlerror();
    return fail(CLSA_ERR_UNSUPPORTED,
                "MPI back end: could not load the MPI library \"%s\" (%s): %s. Data-parallel training over MPI needs "
                "Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev), or CLSA_MPI_LIBRARY set to the "
                "path of its libmpi.so.40; single-process training does not need it",
                library, source, why ? why : "unknown loader error");
  }
  bool ok = bind(dl, "MPI_Initialized", m.Initialized) && bind(dl, "MPI_Finalized", m.Finalized) &&
            bind(dl, "MPI_Init_thread", m.Init_thread) && bind(dl, "MPI_Comm_rank", m.Comm_rank) &&
            bind(dl, "MPI_Comm_size", m.Comm_size) && bind(dl, "MPI_Comm_split_type", m.Comm_split_type) &&
            bind(dl, "MPI_Comm_free", m.Comm_free) && bind(dl, "MPI_Comm_set_errhandler", m.Comm_set_errhandler) &&
            bind(dl, "MPI_Allreduce", m.Allreduce) && bind(dl, "MPI_Allgather", m.Allgather) &&
            bind(dl, "MPI_Bcast", m.Bcast) && bind(dl, "MPI_Barrier", m.Barrier) && bind(dl, "MPI_Finalize", m.Finalize) &&
            bind(dl, "MPI_Abort", m.Abort) && bind(dl, "MPI_Error_string", m.Error_string) &&
            bind(dl, "MPI_Get_library_version", m.Get_library_version);
  if (!ok) {
    dlclose(dl);
    return fail(CLSA_ERR_UNSUPPORTED, "MPI back end: \"%s\" (%s) loaded but lacks MPI-3 functions (MPI_Comm_split_type, ...)",
                library, source);
  }
  m.world = dlsym(dl, "ompi_mpi_comm_world");
  m.float32 = dlsym(dl, "ompi_mpi_float");
  m.uint64 = dlsym(dl, "ompi_mpi_uint64_t");
  m.sum = dlsym(dl, "ompi_mpi_op_sum");
  m.errors_return = dlsym(dl, "ompi_mpi_errors_return");
  m.info_null = dlsym(dl, "ompi_mpi_info_null");
  if (!m.world || !m.float32 || !m.uint64 || !m.sum || !m.errors_return || !m.info_null) {
    dlclose(dl);
    return fail(CLSA_ERR_UNSUPPORTED,
                "MPI back end: \"%s\" (%s) is an MPI library but not Open MPI (no ompi_mpi_comm_world and its kin): clsa "
                "speaks Open MPI's ABI only; point CLSA_MPI_LIBRARY at Open MPI's libmpi.so.40",
                library, source);
  }
  m.dl = dl;
  m.library = library;
  return CLSA_OK;
}

clsa_status start(Mpi& m) {
  int finalised = 0, initialised = 0;
  m.Finalized(&finalised);
  if (finalised || m.finalised)
    return fail(CLSA_ERR_UNSUPPORTED,
                "MPI back end: MPI has been finalised in this process (clsa_comm_finalize), and MPI cannot start twice");
  m.Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    const int rc = m.Init_thread(nullptr, nullptr, kThreadSerialized, &provided);
    if (rc != kSuccess) return fail(CLSA_ERR_COMM, "MPI_Init_thread failed (MPI error %d)", rc);
    m.we_initialised = true;
    if (provided < kThreadSerialized)
      return fail(CLSA_ERR_UNSUPPORTED,
                  "MPI back end: MPI_Init_thread provided thread level %d but clsa needs MPI_THREAD_SERIALIZED (%d): steps "
                  "run on worker threads",
                  provided, kThreadSerialized);
  }
  // Errors come back as statuses (with their text) instead of aborting the process from inside MPI.
  int rc = m.Comm_set_errhandler(m.world, m.errors_return);
  if (rc != kSuccess) return mpi_error(m, rc, "MPI_Comm_set_errhandler");
  if ((rc = m.Comm_rank(m.world, &m.rank)) != kSuccess) return mpi_error(m, rc, "MPI_Comm_rank");
  if ((rc = m.Comm_size(m.world, &m.size)) != kSuccess) return mpi_error(m, rc, "MPI_Comm_size");
  Handle local = nullptr;
  if ((rc = m.Comm_split_type(m.world, kCommTypeShared, m.rank, m.info_null, &local)) != kSuccess)
    return mpi_error(m, rc, "MPI_Comm_split_type");
  m.Comm_rank(local, &m.local_rank);
  m.Comm_size(local, &m.local_size);
  m.Comm_free(&local);
  char version[kMaxVersionString + 1] = {0};
  int len = 0;
  m.Get_library_version(version, &len);
  version[std::strcspn(version, "\n")] = 0;
  std::snprintf(m.version, sizeof m.version, "%s", version);
  m.started = true;
  return CLSA_OK;
}

class MpiBackend : public Backend {
 public:
  explicit MpiBackend(Mpi& m) : m_(m) {}

  clsa_status all_reduce(const void* send, void* recv, int64_t count, int32_t dtype, int32_t op, void*) override {
    std::lock_guard<std::mutex> lock(m_.mutex);
    CLSA_TRY(alive());
    const int rc = m_.Allreduce(send == recv ? kInPlace : send, recv, int(count), type(dtype), m_.sum, m_.world);
    if (rc != kSuccess) return mpi_error(m_, rc, "MPI_Allreduce");
    if (op == CLSA_COMM_MEAN && m_.size > 1) {
      // Divided, not multiplied by 1/size: the mean correctly rounded for any world size.
      float* r = static_cast<float*>(recv);
      const float s = float(m_.size);
      for (int64_t i = 0; i < count; ++i) r[i] /= s;
    }
    return CLSA_OK;
  }

  clsa_status all_gather(const void* send, void* recv, int64_t count, int32_t dtype, void*) override {
    std::lock_guard<std::mutex> lock(m_.mutex);
    CLSA_TRY(alive());
    const bool in_place = send == static_cast<const char*>(recv) + size_t(m_.rank) * size_t(count) * dtype_size(dtype);
    const int rc = m_.Allgather(in_place ? kInPlace : send, int(count), type(dtype), recv, int(count), type(dtype), m_.world);
    return rc == kSuccess ? CLSA_OK : mpi_error(m_, rc, "MPI_Allgather");
  }

  clsa_status broadcast(void* buf, int64_t count, int32_t dtype, int32_t root, void*) override {
    std::lock_guard<std::mutex> lock(m_.mutex);
    CLSA_TRY(alive());
    const int rc = m_.Bcast(buf, int(count), type(dtype), root, m_.world);
    return rc == kSuccess ? CLSA_OK : mpi_error(m_, rc, "MPI_Bcast");
  }

  clsa_status barrier() override {
    std::lock_guard<std::mutex> lock(m_.mutex);
    CLSA_TRY(alive());
    const int rc = m_.Barrier(m_.world);
    return rc == kSuccess ? CLSA_OK : mpi_error(m_, rc, "MPI_Barrier");
  }

  clsa_status finalize() override {
    std::lock_guard<std::mutex> lock(m_.mutex);
    int done = 0;
    m_.Finalized(&done);
    if (m_.finalised || done || !m_.we_initialised) {
      m_.finalised = m_.finalised || done;
      return CLSA_OK;
    }
    const int rc = m_.Finalize();
    m_.finalised = true;
    return rc == kSuccess ? CLSA_OK : mpi_error(m_, rc, "MPI_Finalize");
  }

  clsa_status abort(int32_t code) override {
    // No lock: the rank that aborts may be the one stuck in a collective on another thread.
    const int rc = m_.Abort(m_.world, code);
    return mpi_error(m_, rc, "MPI_Abort");
  }

 private:
  Handle type(int32_t dtype) const { return dtype == CLSA_COMM_UINT64 ? m_.uint64 : m_.float32; }
  clsa_status alive() const {
    if (m_.finalised)
      return fail(CLSA_ERR_UNSUPPORTED, "comm: MPI has been finalised in this process (clsa_comm_finalize); no collective can run");
    return CLSA_OK;
  }
  Mpi& m_;
};

}  // namespace

clsa_status open_mpi(const char* library, clsa_comm_info* info, std::unique_ptr<Backend>* out) {
  Mpi& m = mpi();
  std::lock_guard<std::mutex> lock(m.mutex);
  CLSA_TRY(load(m, library));
  if (!m.started || m.finalised) CLSA_TRY(start(m));
  info->backend = CLSA_COMM_MPI;
  info->device = CLSA_DEVICE_CPU;
  info->rank = m.rank;
  info->size = m.size;
  info->local_rank = m.local_rank;
  info->local_size = m.local_size;
  std::snprintf(info->library, sizeof info->library, "%s", m.library.c_str());
  std::snprintf(info->version, sizeof info->version, "%s", m.version);
  out->reset(new MpiBackend(m));
  return CLSA_OK;
}

}  // namespace clsa::comm
