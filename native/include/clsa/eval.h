/*
 * eval.h — evaluation kernels of libclsa: the weighted kNN monitor's fused similarity + top-k
 * and the linear probe (multinomial logistic regression on frozen features).
 * Included by clsa.h; same conventions (status codes, clsa_last_error, caller-owned memory).
 */
#ifndef CLSA_EVAL_H
#define CLSA_EVAL_H

#include "clsa.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Fused cosine similarity + top-k. For every test row i, the k train rows with the largest
 * cosine similarity sim(i, j) = test_i . train_j / (|test_i| |train_j|) (rows of zero norm have
 * similarity 0 with everything), in descending order of similarity; equal similarities are
 * ordered by ascending train index (the smaller index wins a place in the top k).
 * The test x train similarity matrix is never stored: train is swept in tiles and every test row
 * keeps a running top-k. Requires 1 <= k <= n_train.
 * Pointers live in the memory space named by `device` (device memory for CLSA_DEVICE_CUDA).
 */
typedef struct clsa_knn_desc {
  int32_t device;        /* clsa_device */
  int32_t device_index;  /* GPU ordinal for CLSA_DEVICE_CUDA */
  int64_t n_train;       /* rows of train >= 1 */
  int64_t n_test;        /* rows of test >= 1 */
  int64_t d;             /* feature dimension >= 1 */
  int64_t k;             /* neighbours per test row, 1 <= k <= n_train */
  void* stream;          /* cudaStream_t, NULL = default; ignored on the CPU */
  const int32_t* cancel; /* may be NULL; CPU: once *cancel is non-zero (set by another thread) the
                            call stops between tiles with CLSA_ERR_CANCELLED (outputs undefined).
                            CUDA: checked once before the launch. */
} clsa_knn_desc;

/* train [n_train, d], test [n_test, d] float; out_index [n_test, k] int32 train row indices,
 * out_sim [n_test, k] float similarities. Synchronous. */
CLSA_API clsa_status clsa_knn_topk(const clsa_knn_desc* desc, const float* train, const float* test,
                                   int32_t* out_index, float* out_sim);

/*
 * Linear probe: multinomial logistic regression W [classes, d], b [classes] on the rows of x
 * (already standardised by the caller), trained with mini-batch Adam (decoupled weight decay
 * on W only: w *= 1 - lr * wd before each Adam step, as torch.optim.AdamW) for `epochs` passes; each epoch visits the rows in the order given
 * by `order` [epochs, n] (the caller's seeded permutation, so runs are reproducible and the
 * float64 reference can use the same order). W, b are in/out (the caller initialises them).
 * Loss per batch: mean cross-entropy. `epoch_loss` [epochs] (may be NULL) receives the mean
 * of the batch losses of each epoch (computed before each batch's update).
 * CPU only (CLSA_ERR_UNSUPPORTED for other devices). Deterministic for a fixed thread count.
 */
typedef struct clsa_probe_desc {
  int64_t n;             /* training rows >= 1 */
  int64_t d;             /* features >= 1 */
  int32_t classes;       /* >= 2 */
  int32_t epochs;        /* >= 1 */
  int64_t batch;         /* rows per step, 1 <= batch (clamped to n) */
  float lr;              /* Adam step size > 0 */
  float weight_decay;    /* >= 0 */
  float beta1, beta2, eps;
  const int32_t* cancel; /* may be NULL; checked before every step: non-zero stops the call with
                            CLSA_ERR_CANCELLED (weight and bias then hold the last completed step) */
} clsa_probe_desc;

CLSA_API clsa_status clsa_probe_train(const clsa_probe_desc* desc, const float* x, const int32_t* labels,
                                      const int32_t* order, float* weight, float* bias, float* epoch_loss);

/*
 * The converged linear probe: minimises the full-batch objective
 *   f(W, b) = mean_i CE(W x_i + b, y_i) + weight_decay / 2 * |W|^2      (b is not penalised)
 * with L-BFGS (two-loop recursion, `history` pairs, Armijo backtracking) from the W, b given
 * (in/out), until |grad f| <= tolerance * max(1, |grad f at the start|) or `max_iterations`.
 * weight_decay > 0 makes f strongly convex: one minimum, which the report says was reached or not.
 * The features are float; the objective, its gradient and the solver's state are double. CPU only;
 * identical results for any number of threads.
 */
typedef struct clsa_probe_lbfgs_desc {
  int64_t n;              /* training rows >= 1 */
  int64_t d;              /* features >= 1 */
  int32_t classes;        /* >= 2 */
  int32_t max_iterations; /* >= 1 */
  int32_t history;        /* L-BFGS pairs kept, 1..64 */
  double weight_decay;    /* > 0 */
  double tolerance;       /* relative gradient norm at which to stop, > 0 */
  const int32_t* cancel;  /* may be NULL; checked every iteration (CLSA_ERR_CANCELLED) */
} clsa_probe_lbfgs_desc;

typedef struct clsa_probe_lbfgs_report {
  double loss;                  /* f at the returned W, b */
  double gradient_norm;         /* |grad f| there (2-norm over W and b) */
  double initial_gradient_norm; /* |grad f| at the start */
  double last_loss_change;      /* f decrease of the last iteration (infinity when none ran) */
  int32_t iterations;
  int32_t evaluations;          /* objective + gradient evaluations, line search included */
  int32_t converged;            /* 1 when the gradient criterion was met */
} clsa_probe_lbfgs_report;

CLSA_API clsa_status clsa_probe_lbfgs(const clsa_probe_lbfgs_desc* desc, const float* x, const int32_t* labels,
                                      float* weight, float* bias, clsa_probe_lbfgs_report* report);

/* Predicted class (argmax of x W^T + b, first maximum on ties) for n rows. CPU only. */
CLSA_API clsa_status clsa_probe_predict(int64_t n, int64_t d, int32_t classes, const float* x, const float* weight,
                                        const float* bias, int32_t* out_class);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLSA_EVAL_H */
