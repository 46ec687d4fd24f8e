// The C API of clsa/comm.h: argument checks, then the back end (mpi.cpp, nccl.cpp) moves the bytes.
#include <climits>
#include <cstring>
#include <memory>
#include <new>

#include "../internal.h"
#include "backend.h"

struct clsa_comm {
  std::unique_ptr<clsa::comm::Backend> backend;
  clsa_comm_info info;
};

using namespace clsa;

namespace {

clsa_status check_comm(const clsa_comm* c) {
  return c ? CLSA_OK : fail(CLSA_ERR_INVALID_ARGUMENT, "comm: expected a communicator but got NULL");
}

clsa_status check_count(const char* fn, int64_t count) {
  // MPI counts are C ints; a larger buffer would need chunking, which no step of clsa needs.
  if (count < 0 || count > INT_MAX)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: count: expected 0 .. %d elements but got %lld", fn, INT_MAX,
                (long long)count);
  return CLSA_OK;
}

clsa_status check_dtype(const char* fn, int32_t dtype) {
  if (dtype != CLSA_COMM_FLOAT32 && dtype != CLSA_COMM_UINT64)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: dtype: expected CLSA_COMM_FLOAT32 (0) or CLSA_COMM_UINT64 (1) but got %d", fn,
                dtype);
  return CLSA_OK;
}

clsa_status check_stream(const clsa_comm* c, const char* fn, void* stream) {
  if (c->info.backend == CLSA_COMM_MPI && stream)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: stream: expected NULL for the MPI back end (host memory) but got %p", fn, stream);
  return CLSA_OK;
}

}  // namespace

extern "C" {

clsa_status clsa_comm_create(const clsa_comm_options* options, clsa_comm** out) {
  clear_error();
  if (!out) return fail(CLSA_ERR_INVALID_ARGUMENT, "comm: expected a pointer to receive the handle but got NULL");
  *out = nullptr;
  if (!options) return fail(CLSA_ERR_INVALID_ARGUMENT, "options: expected a clsa_comm_options but got NULL");
  if (options->backend != CLSA_COMM_MPI && options->backend != CLSA_COMM_NCCL)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "options->backend: expected CLSA_COMM_MPI (1) or CLSA_COMM_NCCL (2) but got %d",
                options->backend);
  try {
    std::unique_ptr<clsa_comm> c(new clsa_comm());
    std::memset(&c->info, 0, sizeof c->info);
    if (options->backend == CLSA_COMM_MPI)
      CLSA_TRY(comm::open_mpi(options->library, &c->info, &c->backend));
    else
      CLSA_TRY(comm::open_nccl(*options, &c->info, &c->backend));
    *out = c.release();
    return CLSA_OK;
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "clsa_comm_create: out of host memory");
  }
}

void clsa_comm_destroy(clsa_comm* comm) { delete comm; }

clsa_status clsa_comm_get_info(const clsa_comm* comm, clsa_comm_info* info) {
  clear_error();
  CLSA_TRY(check_comm(comm));
  if (!info) return fail(CLSA_ERR_INVALID_ARGUMENT, "info: expected a clsa_comm_info but got NULL");
  *info = comm->info;
  return CLSA_OK;
}

clsa_status clsa_comm_all_reduce(clsa_comm* comm, const void* send, void* recv, int64_t count, int32_t dtype, int32_t op,
                                 void* stream) {
  clear_error();
  const char* fn = "clsa_comm_all_reduce";
  CLSA_TRY(check_comm(comm));
  CLSA_TRY(check_count(fn, count));
  if (dtype != CLSA_COMM_FLOAT32)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: dtype: expected CLSA_COMM_FLOAT32 (0), the one type reduced, but got %d", fn,
                dtype);
  if (op != CLSA_COMM_SUM && op != CLSA_COMM_MEAN)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: op: expected CLSA_COMM_SUM (0) or CLSA_COMM_MEAN (1) but got %d", fn, op);
  CLSA_TRY(check_stream(comm, fn, stream));
  if (count == 0) return CLSA_OK;
  if (!send || !recv)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: %s: expected %lld floats but got NULL", fn, send ? "recv" : "send",
                (long long)count);
  return comm->backend->all_reduce(send, recv, count, dtype, op, stream);
}

clsa_status clsa_comm_all_gather(clsa_comm* comm, const void* send, void* recv, int64_t count, int32_t dtype, void* stream) {
  clear_error();
  const char* fn = "clsa_comm_all_gather";
  CLSA_TRY(check_comm(comm));
  CLSA_TRY(check_count(fn, count));
  CLSA_TRY(check_dtype(fn, dtype));
  CLSA_TRY(check_stream(comm, fn, stream));
  if (count == 0) return CLSA_OK;
  if (!send || !recv)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: %s: expected %lld elements but got NULL", fn, send ? "recv" : "send",
                (long long)(send ? count * comm->info.size : count));
  return comm->backend->all_gather(send, recv, count, dtype, stream);
}

clsa_status clsa_comm_broadcast(clsa_comm* comm, void* buf, int64_t count, int32_t dtype, int32_t root, void* stream) {
  clear_error();
  const char* fn = "clsa_comm_broadcast";
  CLSA_TRY(check_comm(comm));
  CLSA_TRY(check_count(fn, count));
  CLSA_TRY(check_dtype(fn, dtype));
  CLSA_TRY(check_stream(comm, fn, stream));
  if (root < 0 || root >= comm->info.size)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: root: expected a rank in 0 .. %d but got %d", fn, comm->info.size - 1, root);
  if (count == 0) return CLSA_OK;
  if (!buf) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: buf: expected %lld elements but got NULL", fn, (long long)count);
  return comm->backend->broadcast(buf, count, dtype, root, stream);
}

clsa_status clsa_comm_barrier(clsa_comm* comm) {
  clear_error();
  CLSA_TRY(check_comm(comm));
  return comm->backend->barrier();
}

clsa_status clsa_comm_finalize(clsa_comm* comm) {
  clear_error();
  CLSA_TRY(check_comm(comm));
  return comm->backend->finalize();
}

clsa_status clsa_comm_abort(clsa_comm* comm, int32_t code) {
  clear_error();
  CLSA_TRY(check_comm(comm));
  return comm->backend->abort(code);
}

}  // extern "C"
