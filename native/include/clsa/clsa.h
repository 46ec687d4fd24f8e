/*
 * clsa.h — the public C API of libclsa.
 *
 * CLSA ("Contrastive Learning with Stronger Augmentations", Qi & Wang, arXiv 2104.07713)
 * kernels behind one plain-C interface with a CPU and a CUDA back end. The Node addon and
 * native consumers call exactly these functions.
 *
 * Linking: `find_package(clsa CONFIG REQUIRED)` + `target_link_libraries(app PRIVATE clsa::clsa)`
 * (shared) or clsa::clsa_static, or `pkg-config --cflags --libs clsa`. See docs/c-api.md.
 *
 * Conventions
 * - Errors. Every function except clsa_status_string, clsa_last_error and clsa_version returns
 *   a clsa_status; CLSA_OK is 0. No function aborts, throws or exits: a failed check returns a
 *   code. On failure a human-readable message naming the argument, what was expected and what
 *   was received is available from clsa_last_error() on the same thread until that thread's next
 *   clsa_* call (every call clears it first). A failed call leaves its outputs unspecified,
 *   except where documented (clsa_queue_enqueue leaves the queue and *pointer untouched when an
 *   argument is rejected).
 * - Tensors are dense, row-major float32 arrays described by a pointer and dimensions. A pointer
 *   lives in the memory space named by the call's `device` field: host memory for
 *   CLSA_DEVICE_CPU, device memory of GPU `device_index` for CLSA_DEVICE_CUDA (from
 *   clsa_device_alloc or cudaMalloc; the library cannot tell the two spaces apart, so a host
 *   pointer passed to a CUDA call is undefined behaviour, typically CLSA_ERR_CUDA).
 * - Ownership. The caller owns all memory passed in, before and after the call; the library
 *   never frees or keeps a pointer after a call returns. Memory the library allocates: the
 *   fused head's scratch when the caller passes no workspace (freed before the call returns),
 *   device memory from clsa_device_alloc (the caller frees it with clsa_device_free), and the
 *   CPU worker pool (threads created on first use, kept for the life of the process).
 *   Returned strings (clsa_status_string, clsa_version) are static; clsa_last_error's is
 *   thread-local.
 * - Thread safety. Every function may be called from any thread, concurrently, as long as
 *   concurrent calls do not write the same memory (and do not read memory another call writes).
 *   The parallel sections of CPU calls run on one shared worker pool and take turns, so
 *   concurrent CPU calls are safe but do not run faster than one after the other.
 *   clsa_cpu_set_threads waits for the running parallel section to finish.
 * - CUDA calls are stream-ordered: they enqueue work on `stream` (a cudaStream_t, NULL = the
 *   legacy default stream) on GPU `device_index`, may return before the work is done, and make
 *   `device_index` the calling thread's current CUDA device. Results are visible to the host
 *   after clsa_cuda_synchronize on that stream, or after a clsa_device_copy on that stream
 *   (which waits). A kernel failure that happens after the call returned is reported by the
 *   next synchronising call as CLSA_ERR_CUDA.
 * - Indices are 64-bit. Individual dimensions are limited to INT32_MAX and element counts of a
 *   single tensor to 2^62 so that no index computation can overflow.
 * - ABI. The structs are plain C with fixed-width fields; their layout may change between
 *   minor versions while the major version is 0 (the CMake package accepts only the same
 *   major.minor). Compare CLSA_VERSION_* with clsa_version() when loading libclsa dynamically.
 */
#ifndef CLSA_CLSA_H
#define CLSA_CLSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(CLSA_SHARED_BUILD)
#define CLSA_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLSA_API __attribute__((visibility("default")))
#else
#define CLSA_API
#endif

#define CLSA_VERSION_MAJOR 0
#define CLSA_VERSION_MINOR 1
#define CLSA_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------- */
/* Status codes                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef enum clsa_status {
  CLSA_OK = 0,
  CLSA_ERR_INVALID_ARGUMENT = 1, /* a pointer, dimension or option is out of its domain */
  CLSA_ERR_OUT_OF_MEMORY = 2,    /* host or device allocation failed */
  CLSA_ERR_NOT_COMPILED = 3,     /* the requested back end was not compiled into this build */
  CLSA_ERR_NO_DEVICE = 4,        /* CUDA compiled in, but no usable GPU (driver, device) */
  CLSA_ERR_CUDA = 5,             /* a CUDA runtime call failed; message carries its name */
  CLSA_ERR_UNSUPPORTED = 6,      /* valid arguments, but this combination is not implemented */
  CLSA_ERR_NON_FINITE = 7,       /* a NaN or infinity reached a result */
  CLSA_ERR_CANCELLED = 8,        /* a long call was cancelled through its cancel flag */
  CLSA_ERR_INTERNAL = 9,         /* a broken invariant inside the library: a bug, please report */
  CLSA_ERR_COMM = 10             /* a collective failed, or the ranks of a job disagree (configuration, diverged replicas) */
} clsa_status;

/* A static string naming the status ("CLSA_OK", "CLSA_ERR_INVALID_ARGUMENT", ...); for a value
 * outside the enum, "CLSA_ERR_UNKNOWN". Never NULL, never to be freed. Thread-safe. */
CLSA_API const char* clsa_status_string(clsa_status status);

/* The calling thread's message for its last failed call ("" when that call succeeded).
 * Thread-local storage owned by the library (at most 1023 characters); valid until the same
 * thread's next clsa_* call. Does not itself clear the message. Never NULL. */
CLSA_API const char* clsa_last_error(void);

/* "major.minor.patch" of the library that is linked (compare with the CLSA_VERSION_* macros
 * of the header compiled against). Static string, never NULL. */
CLSA_API const char* clsa_version(void);

/* ---------------------------------------------------------------------------------------- */
/* Devices and back ends                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* Where a call runs and where its tensors live. Passed as int32_t `device` fields/arguments. */
typedef enum clsa_device {
  CLSA_DEVICE_CPU = 0,  /* host memory, the CPU back end (always compiled in) */
  CLSA_DEVICE_CUDA = 1  /* device memory of GPU `device_index`, the CUDA back end */
} clsa_device;

/* Arithmetic used by matrix products. The CPU back end's head (clsa_head_*) computes in fp32 and
 * accepts only CLSA_PRECISION_FP32; a CPU model (clsa/model.h) also takes CLSA_PRECISION_BF16 for
 * its convolution and linear GEMMs where clsa_backend_info.cpu_bf16 is 1. On CUDA the inputs of
 * the two matrix products are rounded to the named format and accumulated in fp32; softmax
 * statistics, losses and gradients stay fp32. */
typedef enum clsa_precision {
  CLSA_PRECISION_FP32 = 0, /* exact fp32 (SIMT on CUDA) */
  CLSA_PRECISION_TF32 = 1,
  CLSA_PRECISION_BF16 = 2,
  CLSA_PRECISION_FP16 = 3
} clsa_precision;

/* Why the CUDA back end is or is not usable (clsa_backend_info.cuda_state). */
typedef enum clsa_cuda_state {
  CLSA_CUDA_USABLE = 0,
  CLSA_CUDA_NOT_COMPILED = 1,
  CLSA_CUDA_NO_DRIVER = 2,        /* no libcuda / kernel driver found */
  CLSA_CUDA_DRIVER_TOO_OLD = 3,   /* driver older than the runtime this library was built with */
  CLSA_CUDA_NO_DEVICE = 4,        /* driver present, zero devices */
  CLSA_CUDA_ERROR = 5             /* any other runtime error; see clsa_backend_info.cuda_message */
} clsa_cuda_state;

/* One usable GPU, as the CUDA runtime describes it. */
typedef struct clsa_device_info {
  char name[256];          /* e.g. "NVIDIA H100 80GB HBM3", NUL-terminated */
  int32_t compute_major;   /* compute capability, e.g. 9 for sm_90 */
  int32_t compute_minor;   /* e.g. 0 for sm_90 */
  int32_t multiprocessors; /* streaming multiprocessors */
  int64_t total_memory;   /* bytes */
  int64_t free_memory;    /* bytes, at the time of the query */
} clsa_device_info;

/* At most this many GPUs are described; device_count is capped to it. */
#define CLSA_MAX_DEVICES 16

/* What this build and machine can do. Filled by clsa_backend_query; strings NUL-terminated. */
typedef struct clsa_backend_info {
  int32_t cuda_compiled;          /* 1 when this build contains the CUDA back end */
  int32_t cuda_state;             /* a clsa_cuda_state; CLSA_CUDA_USABLE means device_count >= 1 */
  char cuda_message[256];         /* the reason and the CUDA error name and text behind cuda_state,
                                     e.g. "no NVIDIA driver found: cudaErrorInsufficientDriver (...)";
                                     "" when usable */
  int32_t cuda_runtime_version;   /* the CUDA runtime linked in, e.g. 13000; 0 when not compiled */
  int32_t cuda_driver_version;    /* the driver's CUDA version, e.g. 13000; 0 when no driver */
  int32_t device_count;           /* usable CUDA devices described below (<= CLSA_MAX_DEVICES) */
  clsa_device_info devices[CLSA_MAX_DEVICES]; /* devices[0 .. device_count-1]; index = device_index */
  int32_t cpu_threads;            /* threads of the CPU worker pool (the calling thread included) */
  char cpu_features[128];         /* the CPU kernels chosen for this machine at run time:
                                     "avx512", "avx2" or "generic" */
  int32_t cpu_bf16;               /* 1 when a CPU model may use CLSA_PRECISION_BF16: the CPU has
                                     AVX512-BF16 (vdpbf16ps) and CLSA_CPU_KERNEL does not turn
                                     AVX-512 off */
} clsa_backend_info;

/* Fills *info (zeroing it first). Never fails for lack of a GPU, a driver or the CUDA back end:
 * that is reported in cuda_compiled / cuda_state / cuda_message. Starts the CPU worker pool if
 * it is not running yet. Safe to call at any time, from any thread; a library built with CUDA
 * loads and answers this on machines with no NVIDIA driver at all.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (info is NULL). */
CLSA_API clsa_status clsa_backend_query(clsa_backend_info* info);

/* Sets the number of CPU worker threads, the calling thread included (0 = one per hardware
 * thread, the default). Takes effect for later calls: the pool is stopped (after any running
 * parallel section) and restarted on next use. Changes clsa_head_workspace_size for the CPU.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (threads outside 0 .. 4096). */
CLSA_API clsa_status clsa_cpu_set_threads(int32_t threads);

/* ---------------------------------------------------------------------------------------- */
/* Device memory (CUDA back end). All return CLSA_ERR_NOT_COMPILED in a CPU-only build.      */
/* ---------------------------------------------------------------------------------------- */

typedef enum clsa_copy_kind {
  CLSA_COPY_HOST_TO_DEVICE = 1,
  CLSA_COPY_DEVICE_TO_HOST = 2,
  CLSA_COPY_DEVICE_TO_DEVICE = 3
} clsa_copy_kind;

/* Allocates `bytes` (0 is allowed and gives a valid 1-byte allocation) on GPU `device_index`
 * and stores the pointer in *ptr (NULL on failure). cudaMalloc alignment (>= 256 bytes).
 * The caller owns the memory and frees it with clsa_device_free on the same device.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (ptr NULL, device_index out of range),
 * CLSA_ERR_OUT_OF_MEMORY (the message states the bytes asked for and the bytes free),
 * CLSA_ERR_NO_DEVICE, CLSA_ERR_CUDA, CLSA_ERR_NOT_COMPILED. */
CLSA_API clsa_status clsa_device_alloc(int32_t device_index, size_t bytes, void** ptr);
/* Frees memory from clsa_device_alloc (NULL is a no-op that returns CLSA_OK). Waits for the
 * device's outstanding work like cudaFree. Errors: as clsa_device_alloc, except out-of-memory. */
CLSA_API clsa_status clsa_device_free(int32_t device_index, void* ptr);
/* Copies `bytes` from src to dst (kind says which side is the device), ordered on `stream`,
 * and waits for it: when it returns CLSA_OK the data is in place and every earlier piece of
 * work on `stream` has finished. bytes == 0 is a no-op. Host memory may be pageable.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (NULL pointer, kind not 1..3, device_index out of range),
 * CLSA_ERR_NO_DEVICE, CLSA_ERR_CUDA (also a failure of earlier work on the stream),
 * CLSA_ERR_NOT_COMPILED. */
CLSA_API clsa_status clsa_device_copy(int32_t device_index, void* dst, const void* src, size_t bytes,
                                      clsa_copy_kind kind, void* stream);
/* Fills `count` floats at device pointer `ptr` with `value`, enqueued on `stream` (returns
 * before it runs). count == 0 is a no-op. Errors: CLSA_ERR_INVALID_ARGUMENT (ptr NULL or
 * count < 0), CLSA_ERR_NO_DEVICE, CLSA_ERR_CUDA (launch failure), CLSA_ERR_NOT_COMPILED. */
CLSA_API clsa_status clsa_device_fill(int32_t device_index, float* ptr, int64_t count, float value,
                                      void* stream);
/* Waits until all work enqueued on `stream` of GPU `device_index` has finished.
 * Errors: CLSA_ERR_CUDA (a kernel enqueued earlier failed; the message names the CUDA error),
 * CLSA_ERR_INVALID_ARGUMENT, CLSA_ERR_NO_DEVICE, CLSA_ERR_NOT_COMPILED. */
CLSA_API clsa_status clsa_cuda_synchronize(int32_t device_index, void* stream);

/* Scans a [rows, cols] float matrix (host or device memory as `device` says) and reports the
 * first element index (row * cols + col) that is NaN or infinite (-1 when none) and the first
 * row whose L2 norm is zero (-1 when none). Used to validate inputs before the kernels run.
 * Both outputs are host memory, set to -1 first. rows == 0 is allowed (data may then be NULL).
 * On CUDA the call waits for the result (a blocking copy on the legacy default stream, so
 * it also waits for work enqueued there).
 * Errors: CLSA_ERR_INVALID_ARGUMENT (NULL pointers, rows < 0, cols < 1, too many elements,
 * bad device), CLSA_ERR_NOT_COMPILED / CLSA_ERR_NO_DEVICE / CLSA_ERR_CUDA for CUDA. */
CLSA_API clsa_status clsa_scan_rows(int32_t device, int32_t device_index, const float* data, int64_t rows,
                                    int64_t cols, int64_t* first_nonfinite, int64_t* first_zero_row);

/* ---------------------------------------------------------------------------------------- */
/* The fused CLSA head: loss and gradient in one pass                                         */
/* ---------------------------------------------------------------------------------------- */

/*
 * Objective (docs/objective.md, exactly the reference code):
 *   q = z / |z| for weak, strong and keys when `normalize` (else used as given);
 *   X = [keys ; queue]  (N + K rows of D);  the positive of row i is key row i.
 *   nce  = sum_w mean_i [ lse_j(q_wi . X_j / tau)  - q_wi . k_i / tau ]
 *   ddm  = sum_w sum_s mean_i [ - sum_j p_wi(j) log p_si(j) ],
 *          p_wi = softmax(q_wi . X / tau2) (detached),  p_si = softmax(q_si . X / tau2)
 *   loss = nce + ddm_weight * ddm
 *   accuracy = fraction of the W*N weak rows whose largest logit (over N+K) is their own key
 *              (ties count as correct only when the key is the first maximum).
 * Gradients are with respect to the raw inputs `weak` and `strong` (through the
 * normalisation when it is on). The weak rows' gradient excludes the DDM path (detached).
 * The queue and the keys receive no gradient.
 */
/* What to compute and where. Zero-initialise it ({0}) and set every field. */
typedef struct clsa_head_desc {
  int32_t device;          /* clsa_device: where the call runs and where the tensors live */
  int32_t device_index;    /* GPU ordinal for CLSA_DEVICE_CUDA, ignored on the CPU */
  int32_t precision;       /* clsa_precision; the CPU accepts only CLSA_PRECISION_FP32 */
  int32_t normalize;       /* 1: L2-normalise weak, strong and keys inside; 0: use as given */
  int64_t n;               /* batch rows N >= 1 */
  int64_t d;               /* embedding dimension D >= 1 */
  int64_t k;               /* queue rows K >= 1 */
  int64_t w;               /* weak crops W >= 1 */
  int64_t s;               /* strong crops S >= 0 */
  float temperature;       /* tau > 0 */
  float ddm_temperature;   /* tau2 > 0 */
  float ddm_weight;        /* alpha >= 0 (0 = MoCo v2: the strong branch gets zero gradient) */
  void* stream;            /* cudaStream_t for CUDA, NULL = default stream; ignored on the CPU */
} clsa_head_desc;

/* The tensors of one call, all in the memory space of desc->device; the caller owns them.
 * Inputs are read only; outputs are overwritten (not accumulated into). */
typedef struct clsa_head_tensors {
  const float* weak;     /* [W, N, D] */
  const float* strong;   /* [S, N, D]; may be NULL when S == 0 */
  const float* keys;     /* [N, D] */
  const float* queue;    /* [K, D] */
  float* grad_weak;      /* [W, N, D] out; may be NULL to skip the gradient */
  float* grad_strong;    /* [S, N, D] out; may be NULL to skip (or when S == 0) */
  float* stats;          /* [4] out: loss, nce, ddm, accuracy — in the device's memory space */
} clsa_head_tensors;

/* Bytes of scratch clsa_head_forward_backward needs for this descriptor: O(M*D) floats with
 * M = (W+S)*N, never O(M*(N+K)). On the CPU it also depends on the worker-pool size (query it
 * again after clsa_cpu_set_threads). Validates the descriptor like the call itself.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (bytes NULL or a bad descriptor field, named in the
 * message), CLSA_ERR_UNSUPPORTED (precision other than FP32 on the CPU), CLSA_ERR_NOT_COMPILED
 * / CLSA_ERR_NO_DEVICE for CUDA. */
CLSA_API clsa_status clsa_head_workspace_size(const clsa_head_desc* desc, size_t* bytes);

/* Loss, statistics and gradients in one call. `workspace` (in the device's memory space, at
 * least clsa_head_workspace_size bytes, 256-byte aligned) may be NULL: the library then
 * allocates and frees the scratch itself within the call. Pass a workspace to avoid that
 * allocation in a training loop; it must not be used by another call at the same time.
 * Inputs are not modified. Outputs must not alias inputs or each other. Non-finite inputs, or
 * zero rows with `normalize`, give undefined (non-finite) results: check them beforehand with
 * clsa_scan_rows. On the CPU the call returns when the results are written; on CUDA it is
 * stream-ordered (results, stats included, are in device memory after a synchronisation).
 * Errors: CLSA_ERR_INVALID_ARGUMENT (a bad descriptor field, a NULL required tensor, or a
 * workspace smaller than needed; the message names it), CLSA_ERR_UNSUPPORTED,
 * CLSA_ERR_OUT_OF_MEMORY (scratch allocation), CLSA_ERR_NOT_COMPILED, CLSA_ERR_NO_DEVICE,
 * CLSA_ERR_CUDA, CLSA_ERR_INTERNAL. */
CLSA_API clsa_status clsa_head_forward_backward(const clsa_head_desc* desc, const clsa_head_tensors* t,
                                                void* workspace, size_t workspace_bytes);

/* Reference implementation (CPU only, float64 accumulation, materialises the logits): the
 * checker the fast kernels are tested against. Same contract as clsa_head_forward_backward,
 * O(M*(N+K)) memory, single-threaded and slow: for tests, not for training.
 * Errors: as clsa_head_forward_backward; CLSA_ERR_UNSUPPORTED for desc->device != CPU. */
CLSA_API clsa_status clsa_head_reference(const clsa_head_desc* desc, const clsa_head_tensors* t);

/* ---------------------------------------------------------------------------------------- */
/* Momentum (EMA) update and the queue                                                        */
/* ---------------------------------------------------------------------------------------- */

/* target[i] = m * target[i] + (1 - m) * source[i] for i < count, in place, m in [0, 1].
 * One vectorised pass over a flat parameter buffer (both buffers in the memory space of
 * `device`; they must not overlap unless equal). count == 0 is a no-op. CPU: done on return;
 * CUDA: enqueued on `stream`. `stream` is ignored on the CPU.
 * Errors: CLSA_ERR_INVALID_ARGUMENT (count outside 0 .. 2^62, NULL buffer, m outside [0, 1]
 * or NaN, bad device), CLSA_ERR_NOT_COMPILED / CLSA_ERR_NO_DEVICE / CLSA_ERR_CUDA for CUDA. */
CLSA_API clsa_status clsa_momentum_update(int32_t device, int32_t device_index, float* target,
                                          const float* source, int64_t count, float m, void* stream);

/* Ring-buffer enqueue: copies the N rows of `keys` [N, D] into `queue` [K, D] starting at row
 * *pointer, wrapping at K (when N > K only the last K keys remain, in ring order), and advances
 * *pointer to (*pointer + N) mod K. *pointer is host memory; queue and keys are in the memory
 * space of `device` and must not overlap. With `normalize` (0 or 1) the rows are L2-normalised
 * on the way in. n == 0 is a no-op. CPU: done on return; on an invalid argument, or (CPU) a
 * zero / non-finite key row with `normalize`, the queue and *pointer are left untouched. CUDA:
 * enqueued on `stream`, *pointer advanced at once; rows are not checked (use clsa_scan_rows).
 * Errors: CLSA_ERR_INVALID_ARGUMENT (dims, NULL pointers, *pointer outside 0 .. k-1,
 * normalize not 0/1, a zero key row), CLSA_ERR_NOT_COMPILED / CLSA_ERR_NO_DEVICE /
 * CLSA_ERR_CUDA for CUDA. */
CLSA_API clsa_status clsa_queue_enqueue(int32_t device, int32_t device_index, float* queue, int64_t k,
                                        int64_t d, const float* keys, int64_t n, int32_t normalize,
                                        int64_t* pointer, void* stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* Evaluation kernels: kNN top-k and the linear probe. */
#include "eval.h"
/* The augmentation pipelines (weak, strong/RandAugment, multi-crop). */
#include "augment.h"
/* Communicators for data-parallel training (MPI or NCCL, loaded at run time). */
#include "comm.h"
/* The model: encoder, momentum encoder, queue, one native call per training step. */
#include "model.h"

#endif /* CLSA_CLSA_H */
