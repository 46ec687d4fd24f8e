/*
 * A stand-in for libnccl.so.2, for tests on machines without a GPU or NCCL: the subset of NCCL's
 * API that native/src/comm/nccl.cpp calls, on HOST memory, over MPI. Never shipped: the test
 * (test/distributed.test.ts) builds it into a temporary directory with
 *
 *     mpicc -shared -fPIC -o DIR/libnccl.so.2 test/fake-nccl/fake_nccl.c
 *
 * and points CLSA_NCCL_LIBRARY at it. It links the same libmpi.so.40 that clsa opens, so it runs
 * on the MPI that clsa's bootstrap has started (and refuses to run without it).
 *
 * What it checks that a real NCCL would also insist on: every rank passes the same unique id
 * (so the broadcast of rank 0's id happened), nranks and rank are the MPI world's. What it does
 * not do: device memory, streams (ignored: the collectives complete before returning), CUDA.
 *
 * Failures on demand, for the error mapping: CLSA_FAKE_NCCL_FAIL=<function name> makes that
 * function return ncclInvalidUsage (5), or CLSA_FAKE_NCCL_FAIL=<name>:<code> another result;
 * CLSA_FAKE_NCCL_VERSION=<code> makes ncclGetVersion report that version code.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* From NCCL's src/nccl.h.in (the values nccl.cpp uses). */
typedef struct { char internal[128]; } ncclUniqueId;
typedef int ncclResult_t;
enum { ncclSuccess = 0, ncclSystemError = 2, ncclInternalError = 3, ncclInvalidArgument = 4, ncclInvalidUsage = 5 };
enum { ncclSum = 0, ncclAvg = 4 };
enum { ncclUint64 = 5, ncclFloat32 = 7 };

struct ncclComm {
  int rank, nranks;
  char last_error[256];
};
typedef struct ncclComm* ncclComm_t;

#define API __attribute__((visibility("default")))

/* The injected failure for `fn`, or ncclSuccess. */
static ncclResult_t injected(const char* fn) {
  const char* f = getenv("CLSA_FAKE_NCCL_FAIL");
  size_t n = strlen(fn);
  if (!f || strncmp(f, fn, n) != 0 || (f[n] != 0 && f[n] != ':')) return ncclSuccess;
  return f[n] == ':' ? atoi(f + n + 1) : ncclInvalidUsage;
}

/* A collective's injected failure, with the message ncclGetLastError gives for it. */
static ncclResult_t injected_on(ncclComm_t comm, const char* fn) {
  ncclResult_t rc = injected(fn);
  if (rc && comm) snprintf(comm->last_error, sizeof comm->last_error, "fake NCCL: %s failed on purpose", fn);
  return rc;
}

static MPI_Datatype mpi_type(int t) { return t == ncclUint64 ? MPI_UINT64_T : t == ncclFloat32 ? MPI_FLOAT : MPI_DATATYPE_NULL; }
static size_t type_bytes(int t) { return t == ncclUint64 ? 8 : 4; }

API ncclResult_t ncclGetVersion(int* version) {
  const char* v = getenv("CLSA_FAKE_NCCL_VERSION");
  *version = v ? atoi(v) : 22005; /* "2.20.5" */
  return ncclSuccess;
}

API const char* ncclGetErrorString(ncclResult_t rc) {
  switch (rc) {
    case ncclSuccess: return "no error";
    case ncclSystemError: return "unhandled system error (fake)";
    case ncclInternalError: return "internal error (fake)";
    case ncclInvalidArgument: return "invalid argument (fake)";
    case ncclInvalidUsage: return "invalid usage (fake)";
    default: return "unknown result code (fake)";
  }
}

API const char* ncclGetLastError(ncclComm_t comm) { return comm ? comm->last_error : ""; }

API ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  ncclResult_t rc = injected("ncclGetUniqueId");
  if (rc) return rc;
  memset(id, 0, sizeof *id);
  snprintf(id->internal, sizeof id->internal, "fake-nccl id of pid %d", (int)getpid());
  return ncclSuccess;
}

API ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  int up = 0, size = 0, me = 0, i;
  ncclResult_t rc = injected("ncclCommInitRank");
  if (rc) return rc;
  MPI_Initialized(&up);
  if (!up) return ncclInvalidUsage; /* clsa bootstraps over MPI: it must have started */
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  if (nranks != size || rank != me) return ncclInvalidArgument;
  /* Every rank's id, compared with rank 0's: the unique id must have been broadcast. */
  char* all = malloc((size_t)size * sizeof id.internal);
  MPI_Allgather(id.internal, sizeof id.internal, MPI_BYTE, all, sizeof id.internal, MPI_BYTE, MPI_COMM_WORLD);
  for (i = 1; i < size; ++i)
    if (memcmp(all, all + (size_t)i * sizeof id.internal, sizeof id.internal) != 0) rc = ncclInvalidArgument;
  if (strncmp(all, "fake-nccl id of pid ", 20) != 0) rc = ncclInvalidArgument;
  free(all);
  if (rc) return rc;
  *comm = calloc(1, sizeof **comm);
  (*comm)->rank = rank;
  (*comm)->nranks = nranks;
  return ncclSuccess;
}

API ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, int datatype, int op, ncclComm_t comm,
                               void* stream) {
  ncclResult_t rc = injected_on(comm, "ncclAllReduce");
  (void)stream;
  if (rc) return rc;
  if (datatype != ncclFloat32 || (op != ncclSum && op != ncclAvg)) return ncclInvalidArgument;
  if (MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
    return ncclSystemError;
  if (op == ncclAvg)
    for (size_t i = 0; i < count; ++i) ((float*)recv)[i] /= (float)comm->nranks;
  return ncclSuccess;
}

API ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, int datatype, ncclComm_t comm, void* stream) {
  ncclResult_t rc = injected_on(comm, "ncclAllGather");
  MPI_Datatype t = mpi_type(datatype);
  size_t bytes = type_bytes(datatype);
  (void)stream;
  if (rc) return rc;
  if (t == MPI_DATATYPE_NULL) return ncclInvalidArgument;
  int in_place = (const char*)send == (const char*)recv + (size_t)comm->rank * count * bytes;
  return MPI_Allgather(in_place ? MPI_IN_PLACE : send, (int)count, t, recv, (int)count, t, MPI_COMM_WORLD) == MPI_SUCCESS
             ? ncclSuccess
             : ncclSystemError;
}

API ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, int datatype, int root, ncclComm_t comm,
                               void* stream) {
  ncclResult_t rc = injected_on(comm, "ncclBroadcast");
  MPI_Datatype t = mpi_type(datatype);
  size_t bytes = type_bytes(datatype);
  (void)stream;
  if (rc) return rc;
  if (t == MPI_DATATYPE_NULL) return ncclInvalidArgument;
  if (comm->rank == root && send != recv) memcpy(recv, send, count * bytes);
  return MPI_Bcast(recv, (int)count, t, root, MPI_COMM_WORLD) == MPI_SUCCESS ? ncclSuccess : ncclSystemError;
}

API ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  free(comm);
  return ncclSuccess;
}

API ncclResult_t ncclCommAbort(ncclComm_t comm) {
  free(comm);
  return ncclSuccess;
}
