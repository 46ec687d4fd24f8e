/*
 * clsa.h — the public C API of libclsa.
 *
 * CLSA ("Contrastive Learning with Stronger Augmentations", Qi & Wang, arXiv 2104.07713)
 * kernels behind one plain-C interface with a CPU and a CUDA back end. The Node addon and
 * native consumers call exactly these functions.
 *
 * Conventions
 * - Every function returns a clsa_status. CLSA_OK is 0. On failure a human-readable message
 *   for the calling thread is available from clsa_last_error() until that thread's next call.
 * - Tensors are dense, row-major float32 arrays described by a pointer and dimensions. A pointer
 *   lives in the memory space named by the call's `device` field: host memory for
 *   CLSA_DEVICE_CPU, device memory of GPU `device_index` for CLSA_DEVICE_CUDA.
 * - The library never keeps a pointer after a call returns. The caller owns all memory.
 *   The only allocations made by the library are the documented scratch ("workspace") of the
 *   fused head when the caller passes none, and the per-thread worker pool of the CPU back end.
 * - Thread safety: all functions may be called concurrently from several threads on disjoint
 *   outputs. CPU calls share one worker pool; concurrent CPU calls are serialised inside it.
 *   CUDA calls are enqueued on the caller's stream (NULL = the legacy default stream) and are
 *   synchronous unless documented otherwise (the *_async variants are not provided: pass a
 *   stream and synchronise with clsa_cuda_synchronize when you need the results on the host).
 * - Indices are 64-bit. Individual dimensions are limited to INT32_MAX and element counts of a
 *   single tensor to 2^62 so that no index computation can overflow.
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
  CLSA_ERR_INTERNAL = 9          /* a broken invariant inside the library: a bug, please report */
} clsa_status;

/* A static string naming the status ("CLSA_OK", "CLSA_ERR_INVALID_ARGUMENT", ...). Never NULL. */
CLSA_API const char* clsa_status_string(clsa_status status);

/* The calling thread's message for its last failed call ("" when none). Thread-local storage,
 * valid until the same thread's next clsa_* call. */
CLSA_API const char* clsa_last_error(void);

/* "major.minor.patch" of the library. */
CLSA_API const char* clsa_version(void);

/* ---------------------------------------------------------------------------------------- */
/* Devices and back ends                                                                     */
/* ---------------------------------------------------------------------------------------- */

typedef enum clsa_device {
  CLSA_DEVICE_CPU = 0,
  CLSA_DEVICE_CUDA = 1
} clsa_device;

/* Arithmetic used by matrix products. The CPU back end always computes in fp32 and accepts
 * only CLSA_PRECISION_FP32. On CUDA the inputs of the two matrix products are rounded to the
 * named format and accumulated in fp32; softmax statistics, losses and gradients stay fp32. */
typedef enum clsa_precision {
  CLSA_PRECISION_FP32 = 0, /* exact fp32 (SIMT on CUDA) */
  CLSA_PRECISION_TF32 = 1,
  CLSA_PRECISION_BF16 = 2,
  CLSA_PRECISION_FP16 = 3
} clsa_precision;

/* Why the CUDA back end is or is not usable. */
typedef enum clsa_cuda_state {
  CLSA_CUDA_USABLE = 0,
  CLSA_CUDA_NOT_COMPILED = 1,
  CLSA_CUDA_NO_DRIVER = 2,        /* no libcuda / kernel driver found */
  CLSA_CUDA_DRIVER_TOO_OLD = 3,   /* driver older than the runtime this library was built with */
  CLSA_CUDA_NO_DEVICE = 4,        /* driver present, zero devices */
  CLSA_CUDA_ERROR = 5             /* any other runtime error; see clsa_backend_info.cuda_message */
} clsa_cuda_state;

typedef struct clsa_device_info {
  char name[256];
  int32_t compute_major;
  int32_t compute_minor;
  int32_t multiprocessors;
  int64_t total_memory;   /* bytes */
  int64_t free_memory;    /* bytes, at the time of the query */
} clsa_device_info;

#define CLSA_MAX_DEVICES 16

typedef struct clsa_backend_info {
  int32_t cuda_compiled;          /* 1 when this build contains the CUDA back end */
  int32_t cuda_state;             /* a clsa_cuda_state */
  char cuda_message[256];         /* the CUDA error name and text behind cuda_state, or "" */
  int32_t cuda_runtime_version;   /* e.g. 13000; 0 when not compiled */
  int32_t cuda_driver_version;    /* 0 when no driver */
  int32_t device_count;           /* usable CUDA devices described below (<= CLSA_MAX_DEVICES) */
  clsa_device_info devices[CLSA_MAX_DEVICES];
  int32_t cpu_threads;            /* threads of the CPU worker pool */
  char cpu_features[128];         /* e.g. "avx512f avx2 fma" — the kernels' dispatch level */
} clsa_backend_info;

/* Fills *info. Never fails for lack of a GPU: that is reported inside *info. */
CLSA_API clsa_status clsa_backend_query(clsa_backend_info* info);

/* Sets the number of CPU worker threads (0 = one per hardware thread). Applies to later calls. */
CLSA_API clsa_status clsa_cpu_set_threads(int32_t threads);

/* ---------------------------------------------------------------------------------------- */
/* Device memory (CUDA back end). All return CLSA_ERR_NOT_COMPILED in a CPU-only build.      */
/* ---------------------------------------------------------------------------------------- */

typedef enum clsa_copy_kind {
  CLSA_COPY_HOST_TO_DEVICE = 1,
  CLSA_COPY_DEVICE_TO_HOST = 2,
  CLSA_COPY_DEVICE_TO_DEVICE = 3
} clsa_copy_kind;

/* Allocates `bytes` on GPU `device_index`. On CLSA_ERR_OUT_OF_MEMORY the message states the
 * bytes asked for and the bytes free. Free with clsa_device_free. */
CLSA_API clsa_status clsa_device_alloc(int32_t device_index, size_t bytes, void** ptr);
CLSA_API clsa_status clsa_device_free(int32_t device_index, void* ptr);
/* Synchronous copy (waits for `stream` first). */
CLSA_API clsa_status clsa_device_copy(int32_t device_index, void* dst, const void* src, size_t bytes,
                                      clsa_copy_kind kind, void* stream);
/* Fills `count` floats at `ptr` with `value` on the stream. */
CLSA_API clsa_status clsa_device_fill(int32_t device_index, float* ptr, int64_t count, float value,
                                      void* stream);
CLSA_API clsa_status clsa_cuda_synchronize(int32_t device_index, void* stream);

/* Scans a [rows, cols] float matrix (host or device memory as `device` says) and reports the
 * first element index that is NaN or infinite (-1 when none) and the first row whose L2 norm
 * is zero (-1 when none). Used to validate inputs before the kernels run. */
CLSA_API clsa_status clsa_scan_rows(int32_t device, int32_t device_index, const float* data, int64_t rows,
                                    int64_t cols, int64_t* first_nonfinite, int64_t* first_zero_row);

/* ---------------------------------------------------------------------------------------- */
/* The fused CLSA head: loss and gradient in one pass                                         */
/* ---------------------------------------------------------------------------------------- */

/*
 * Objective (DESIGN.md §2, exactly the reference code):
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
typedef struct clsa_head_desc {
  int32_t device;          /* clsa_device */
  int32_t device_index;    /* GPU ordinal for CLSA_DEVICE_CUDA, ignored on the CPU */
  int32_t precision;       /* clsa_precision */
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

typedef struct clsa_head_tensors {
  const float* weak;     /* [W, N, D] */
  const float* strong;   /* [S, N, D]; may be NULL when S == 0 */
  const float* keys;     /* [N, D] */
  const float* queue;    /* [K, D] */
  float* grad_weak;      /* [W, N, D] out; may be NULL to skip the gradient */
  float* grad_strong;    /* [S, N, D] out; may be NULL to skip (or when S == 0) */
  float* stats;          /* [4] out: loss, nce, ddm, accuracy — in the device's memory space */
} clsa_head_tensors;

/* Bytes of scratch the call needs for this descriptor (O(M*D) floats, never O(M*(N+K))). */
CLSA_API clsa_status clsa_head_workspace_size(const clsa_head_desc* desc, size_t* bytes);

/* Loss, statistics and gradients in one call. `workspace` (in the device's memory space, at
 * least clsa_head_workspace_size bytes, 256-byte aligned) may be NULL: the library then
 * allocates and frees the scratch itself. Inputs are not modified. Outputs must not alias
 * inputs. Non-finite inputs give undefined (non-finite) results: validate beforehand. */
CLSA_API clsa_status clsa_head_forward_backward(const clsa_head_desc* desc, const clsa_head_tensors* t,
                                                void* workspace, size_t workspace_bytes);

/* Reference implementation (CPU only, float64 accumulation, materialises the logits): the
 * checker the fast kernels are tested against. Same contract as clsa_head_forward_backward,
 * O(M*(N+K)) memory. */
CLSA_API clsa_status clsa_head_reference(const clsa_head_desc* desc, const clsa_head_tensors* t);

/* ---------------------------------------------------------------------------------------- */
/* Momentum (EMA) update and the queue                                                        */
/* ---------------------------------------------------------------------------------------- */

/* target[i] = m * target[i] + (1 - m) * source[i] for i < count, in place, m in [0, 1].
 * One vectorised pass over a flat parameter buffer. */
CLSA_API clsa_status clsa_momentum_update(int32_t device, int32_t device_index, float* target,
                                          const float* source, int64_t count, float m, void* stream);

/* Ring-buffer enqueue: copies the N rows of `keys` [N, D] into `queue` [K, D] starting at row
 * *pointer, wrapping at K (when N > K only the last K keys remain, in ring order), and advances
 * *pointer to (*pointer + N) mod K. *pointer is host memory. With `normalize` the rows are
 * L2-normalised on the way in (zero rows are an error). */
CLSA_API clsa_status clsa_queue_enqueue(int32_t device, int32_t device_index, float* queue, int64_t k,
                                        int64_t d, const float* keys, int64_t n, int32_t normalize,
                                        int64_t* pointer, void* stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* The model: encoder, momentum encoder, queue, one native call per training step. */
#include "model.h"

#endif /* CLSA_CLSA_H */
