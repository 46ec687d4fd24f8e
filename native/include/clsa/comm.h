/*
 * comm.h — a communicator for data-parallel training: the ranks of one job and the collectives
 * a training step needs (all-reduce, all-gather, broadcast), over a back end loaded at run time.
 *
 * libclsa never links against a communication library: the back end's shared library is opened
 * with dlopen when a communicator is created, so libclsa (and the Node addon) load, and
 * single-process training works, on a machine that has none installed. Asking for a back end
 * whose library is missing fails with CLSA_ERR_UNSUPPORTED and a message naming what was looked
 * for, where, and why the loader refused it.
 *
 * Back ends
 * - CLSA_COMM_MPI: Open MPI (Debian: `apt-get install openmpi-bin libopenmpi-dev`), the soname
 *   libmpi.so.40, for CPU ranks; buffers are host memory, `stream` must be NULL. The library is
 *   `options.library`, else $CLSA_MPI_LIBRARY, else "libmpi.so.40" on the loader's search path.
 *   Only Open MPI's ABI is spoken (its handles are addresses of exported globals, MPICH's are
 *   integers): another MPI is refused by name. The first communicator calls MPI_Init_thread
 *   (MPI_THREAD_SERIALIZED: the calls come from whichever thread runs a step, one at a time)
 *   unless the process has initialised MPI itself, and sets MPI_ERRORS_RETURN on the world so
 *   that a failed collective returns a status instead of aborting the process.
 * - CLSA_COMM_NCCL: NCCL 2.10 or later, for GPU ranks, one GPU per rank. The library is
 *   `options.library`, else $CLSA_NCCL_LIBRARY, else "libnccl.so.2" on the loader's search path,
 *   then where CUDA (/usr/local/cuda/lib64) and PyTorch's nvidia-nccl wheel (site-packages of
 *   $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local/lib/python3.*) keep it. It is bootstrapped
 *   over the MPI back end (opened as above, from $CLSA_MPI_LIBRARY or libmpi.so.40, so Open MPI is
 *   needed too and the ranks are started by mpirun): rank 0's ncclGetUniqueId is broadcast over
 *   MPI, then every rank calls ncclCommInitRank on `device_index` (< 0: its local rank) with the
 *   MPI world's size and rank. Buffers are device pointers of that GPU; collectives are enqueued
 *   on `stream`, a cudaStream_t (NULL: the legacy default stream, the one the CUDA model uses).
 *   MEAN is ncclAvg. The barrier is MPI's: it meets the host threads and does not wait for
 *   enqueued collectives. clsa_comm_finalize destroys the NCCL communicator, then finalises MPI;
 *   clsa_comm_abort is ncclCommAbort, then MPI_Abort.
 *
 * Collectives are blocking for the MPI back end (the results are in place when the call returns)
 * and stream-ordered for NCCL. Every rank must make the same collective calls in the same order
 * with the same counts; a communicator serves one model (or one caller) at a time.
 */
#ifndef CLSA_COMM_H
#define CLSA_COMM_H

#include "clsa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clsa_comm_backend { CLSA_COMM_MPI = 1, CLSA_COMM_NCCL = 2 } clsa_comm_backend;

/* Element types of a collective. All-reduce takes CLSA_COMM_FLOAT32 only. */
typedef enum clsa_comm_dtype { CLSA_COMM_FLOAT32 = 0, CLSA_COMM_UINT64 = 1 } clsa_comm_dtype;

/* Reductions. MEAN is SUM divided by the world size (the gradient of a mean loss over the ranks'
 * equal shares of a batch). */
typedef enum clsa_comm_op { CLSA_COMM_SUM = 0, CLSA_COMM_MEAN = 1 } clsa_comm_op;

typedef struct clsa_comm_options {
  int32_t backend;       /* clsa_comm_backend */
  int32_t device_index;  /* NCCL: the rank's GPU, < 0 = its local rank (the usual choice); ignored by MPI */
  const char* library;   /* the back end's shared library (a path or a soname); NULL = the default above */
} clsa_comm_options;

typedef struct clsa_comm_info {
  int32_t backend;       /* clsa_comm_backend */
  int32_t device;        /* clsa_device the buffers of the collectives live on */
  int32_t device_index;  /* NCCL: the GPU the communicator was created on; 0 for MPI */
  int32_t rank, size;    /* this process's rank in the world, and the world's size */
  int32_t local_rank, local_size; /* among the ranks sharing this machine (MPI_COMM_TYPE_SHARED) */
  char library[512];     /* the library loaded, as it was given to dlopen */
  char version[256];     /* the library's own version string (MPI_Get_library_version), first line */
} clsa_comm_info;

typedef struct clsa_comm clsa_comm;

/* Opens the back end (dlopen), initialises it if needed and describes the world. Collective in
 * spirit (for NCCL in fact: every rank gets a communicator, or every rank fails, naming the rank
 * that could not load NCCL or use its GPU): every rank of the job creates its communicator before
 * the first collective.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (NULL pointers, an unknown backend, a device_index this
 * process has no GPU for), CLSA_ERR_UNSUPPORTED (the library is missing, is not Open MPI, or is
 * NCCL older than 2.10), CLSA_ERR_COMM (MPI refused to start, or ncclCommInitRank failed; their
 * message is included). */
CLSA_API clsa_status clsa_comm_create(const clsa_comm_options* options, clsa_comm** comm);
/* Frees the handle. MPI stays initialised (it cannot be initialised twice in a process): call
 * clsa_comm_finalize once at the end of the job. NULL is a no-op. */
CLSA_API void clsa_comm_destroy(clsa_comm* comm);
CLSA_API clsa_status clsa_comm_get_info(const clsa_comm* comm, clsa_comm_info* info);

/* recv[i] = op over ranks of send[i], i < count, on every rank. send == recv reduces in place.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (NULL buffers, count outside 0 .. 2^31-1, dtype not
 * FLOAT32, unknown op, a stream for MPI; NCCL's ncclInvalidArgument/ncclInvalidUsage, e.g. a host
 * pointer), CLSA_ERR_COMM (the library failed: the call, the rank and the library's message). */
CLSA_API clsa_status clsa_comm_all_reduce(clsa_comm* comm, const void* send, void* recv, int64_t count,
                                          int32_t dtype, int32_t op, void* stream);
/* recv[r * count + i] = rank r's send[i]: recv holds size * count elements, in rank order.
 * send may be recv + rank * count (in place). */
CLSA_API clsa_status clsa_comm_all_gather(clsa_comm* comm, const void* send, void* recv, int64_t count,
                                          int32_t dtype, void* stream);
/* buf (count elements) of rank `root` copied to every rank's buf. */
CLSA_API clsa_status clsa_comm_broadcast(clsa_comm* comm, void* buf, int64_t count, int32_t dtype, int32_t root,
                                         void* stream);
CLSA_API clsa_status clsa_comm_barrier(clsa_comm* comm);

/* The end of the job on this rank: MPI_Finalize when libclsa initialised MPI (a no-op when the
 * process did, or already finalised). No communicator of the back end works afterwards, and
 * none can be created again in this process. Every rank calls it, after its last collective. */
CLSA_API clsa_status clsa_comm_finalize(clsa_comm* comm);
/* Ends every rank of the job with exit code `code` (MPI_Abort), since the others would otherwise
 * wait in their next collective for ever. Under mpirun a rank that fails may also just exit with a
 * non-zero status (without finalising): mpirun then ends the job and keeps the rank's output, which
 * MPI_Abort may drop. Returns only if the abort itself failed. */
CLSA_API clsa_status clsa_comm_abort(clsa_comm* comm, int32_t code);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLSA_COMM_H */
