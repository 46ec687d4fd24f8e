/*
 * model.h — a whole CLSA model (query encoder + projection head, momentum key encoder, queue,
 * SGD state) behind an opaque handle, trained one native call per step.
 *
 * Encoder: a small-image ResNet (3x3 stem conv stride 1, no max-pool, basic blocks, global
 * average pooling) followed by the MoCo v2 MLP projection head (feat -> hidden -> ReLU -> dim).
 * Batch norm uses split statistics ("split-BN", `split_bn` groups of N/split_bn images each,
 * standing in for shuffle-BN on one device) in training and running statistics in `embed`.
 *
 * One clsa_model_step, in the reference code's order (MoCo's forward, then optimizer.step):
 *   1. momentum update of the key encoder, theta_k = m theta_k + (1-m) theta_q (MoCo calls
 *      _momentum_update_key_encoder() under no_grad at the start of the key branch, i.e. with
 *      the query parameters from before this step's SGD update);
 *   2. key encoder forward, no gradient, train mode: the key view's images are permuted by a
 *      seeded permutation, encoded with split-BN (updating the key encoder's own BN running
 *      statistics), and the key rows un-permuted;
 *   3. query encoder forward of every weak and strong view (each view a separate pass, as the
 *      reference calls encoder_q once per crop: BN statistics per view);
 *   4. the fused head (clsa_head_forward_backward, normalize = 1);
 *   5. backward through head and query encoder, SGD (momentum, weight decay on every
 *      parameter, torch semantics: buf = mu * buf + (g + wd * p); p -= lr * buf);
 *   6. enqueue of the L2-normalised keys (clsa_queue_enqueue).
 *
 * Parameters of each encoder live in one flat float buffer (query and key identically ordered,
 * so step 1 is one clsa_momentum_update). BN running statistics are a separate flat buffer per
 * encoder and are NOT averaged by the momentum update (MoCo updates parameters() only; the key
 * encoder's BN buffers are its own running statistics from its train-mode forward passes).
 * Flat order: per conv its weight [cout][cin][k][k]; per BN gamma[c], beta[c]; per linear
 * weight [out][in], bias[out]; layers in forward order (stem, blocks (conv1, bn1, conv2, bn2,
 * shortcut conv, shortcut bn), fc1, fc2). Running statistics: per BN mean[c], var[c].
 */
#ifndef CLSA_MODEL_H
#define CLSA_MODEL_H

#include "clsa.h"
#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* clsa_comm (comm.h) by its struct tag: comm.h includes clsa.h, which includes this header, so
 * when comm.h is included first its typedef is not yet visible here. */
struct clsa_comm;

typedef enum clsa_arch {
  CLSA_ARCH_RESNET_MINI = 0, /* widths w, 2w, 4w (w = 32), 1 block per stage, strides 1/2/2 */
  CLSA_ARCH_RESNET18 = 1     /* widths w .. 8w (w = 64), [2,2,2,2] blocks, strides 1/2/2/2 */
} clsa_arch;

typedef struct clsa_model_config {
  int32_t device;          /* clsa_device: where every buffer of the model lives and every step runs */
  int32_t device_index;    /* GPU ordinal for CLSA_DEVICE_CUDA */
  int32_t arch;            /* clsa_arch */
  int32_t width;           /* base width (channels of the first stage); 0 = the arch's default */
  int32_t depth;           /* basic blocks per stage; 0 = the arch's default */
  int32_t in_channels;     /* 1 or 3 */
  int32_t proj_hidden;     /* hidden width of the projection MLP; 0 = feature dim */
  int32_t proj_dim;        /* embedding dimension D (128) */
  int64_t queue_size;      /* K >= 1 */
  float temperature;       /* tau */
  float ddm_temperature;   /* tau2 */
  float ddm_weight;        /* alpha */
  float encoder_momentum;  /* m of the key encoder EMA, in [0, 1] */
  float momentum;          /* SGD momentum */
  float weight_decay;      /* SGD weight decay */
  int32_t split_bn;        /* BN groups G >= 1; the batch must be divisible by G */
  float bn_momentum;       /* running-statistics momentum (torch: 0.1) */
  float bn_eps;            /* 1e-5 */
  uint32_t seed;           /* initialisation, queue and shuffle seed */
  int32_t precision;       /* clsa_precision. CUDA: of the fused head (TF32 also the layers' GEMMs). CPU:
                              CLSA_PRECISION_FP32, or CLSA_PRECISION_BF16 where clsa_backend_info.cpu_bf16
                              is 1 (else CLSA_ERR_UNSUPPORTED): the operands of every convolution and
                              linear GEMM (forward, dX, dW; embed too) rounded to bf16 and multiplied
                              with fp32 accumulation; master weights, BN, the head and SGD stay fp32 */
  int32_t symmetric;       /* 0 = the reference's loss (default). 1 = a symmetrised contrastive term, a departure
                              from the reference: the key view is also a query against the key encoder's
                              embedding of the first weak view, both contrastive terms are summed, and both
                              views' keys (key view's first) are enqueued after the step. The DDM term stays
                              the reference's (weak queries against the key view's keys). */
  int32_t loss_reduction;  /* CLSA_LOSS_SUM (0, the reference): the contrastive terms of the W weak views (plus
                              the symmetric one) and the W x S DDM terms are summed, so multi-crop (5 + 25
                              terms) takes an order of magnitude more gradient than single-crop at the same
                              learning rate. CLSA_LOSS_MEAN (1, a departure from the reference): each sum is
                              divided by its number of terms; identical to SUM when W = S = 1 (no symmetric). */
} clsa_model_config;

typedef enum clsa_loss_reduction { CLSA_LOSS_SUM = 0, CLSA_LOSS_MEAN = 1 } clsa_loss_reduction;

/* Fills *config with the reference defaults (resnet-mini, 3 channels, D 128, K 4096, tau 0.2,
 * tau2 0.2, alpha 1, m 0.99, SGD momentum 0.9 and weight decay 5e-4 (the MoCo CIFAR-10 demo;
 * the ImageNet recipe's 1e-4 is in docs/objective.md), split-BN 8, BN 0.1 / 1e-5, seed 0). */
CLSA_API void clsa_model_config_default(clsa_model_config* config);

typedef struct clsa_model clsa_model;

/* A batch of images, float NCHW [n][c][h][w], already augmented and normalised: in host memory,
 * or (CUDA models) in the model's GPU memory, e.g. written there by clsa_augment on the device. */
typedef struct clsa_images {
  const float* data;
  int64_t n, c, h, w;
} clsa_images;

/* One step's views: a key view, W >= 1 weak and S >= 0 strong query views. All share n; sizes
 * may differ (multi-crop), each side >= 8. */
typedef struct clsa_step_views {
  clsa_images key;
  const clsa_images* weak;
  int64_t num_weak;
  const clsa_images* strong;
  int64_t num_strong;
} clsa_step_views;

typedef struct clsa_step_result {
  float loss, nce_loss, ddm_loss, accuracy;
  /* wall-clock seconds of the step's phases */
  double seconds_key_forward;    /* momentum update + key encoder forward */
  double seconds_query_forward;  /* query encoder forwards (all views) */
  double seconds_head;           /* fused head */
  double seconds_backward;       /* backward through projection head and encoder */
  double seconds_update;         /* SGD update + enqueue */
  double seconds_comm;           /* of the phases above: time in collectives (0 without clsa_model_set_comm) */
} clsa_step_result;

typedef struct clsa_model_info {
  int64_t parameter_count;  /* floats in one encoder's parameter buffer */
  int64_t stats_count;      /* floats in one encoder's BN running-statistics buffer */
  int64_t feature_dim;      /* backbone feature size (embed's output columns) */
  int64_t proj_dim;         /* D */
  int64_t queue_size;       /* K */
} clsa_model_info;

/* Creates a model with deterministic initialisation from config->seed: convs Kaiming normal
 * (fan_out, ReLU gain, as torchvision), BN weight 1 bias 0, linear layers torch's default
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); key parameters = query parameters; the queue random unit
 * rows; SGD momentum zero; BN running mean 0, var 1. */
CLSA_API clsa_status clsa_model_create(const clsa_model_config* config, clsa_model** model);
CLSA_API void clsa_model_destroy(clsa_model* model);
CLSA_API clsa_status clsa_model_get_info(const clsa_model* model, clsa_model_info* info);

/* One training step (see the top of this file). Not reentrant on one model: a concurrent call
 * on the same model returns CLSA_ERR_INVALID_ARGUMENT ("model is busy"). */
CLSA_API clsa_status clsa_model_step(clsa_model* model, const clsa_step_views* views, float lr,
                                     clsa_step_result* result);

/* Backbone features [n][feature_dim] of the query encoder with BN in evaluation mode
 * (running statistics). Any n >= 1 (processed in chunks), sides >= 8. */
CLSA_API clsa_status clsa_model_embed(clsa_model* model, const clsa_images* images, float* features);

/* State buffers, enumerated; clsa_model_buffer_name gives their names ("query_params", ...). */
typedef enum clsa_model_buffer {
  CLSA_MODEL_QUERY_PARAMS = 0,
  CLSA_MODEL_KEY_PARAMS = 1,
  CLSA_MODEL_SGD_MOMENTUM = 2,
  CLSA_MODEL_QUERY_BN_STATS = 3,
  CLSA_MODEL_KEY_BN_STATS = 4,
  CLSA_MODEL_QUEUE = 5,
  CLSA_MODEL_BUFFER_COUNT = 6
} clsa_model_buffer;

CLSA_API const char* clsa_model_buffer_name(int32_t buffer);
/* Floats in buffer `buffer`. */
CLSA_API clsa_status clsa_model_buffer_size(const clsa_model* model, int32_t buffer, int64_t* count);
/* Copies `count` floats (exactly the buffer's size) out of / into the model. */
CLSA_API clsa_status clsa_model_get_buffer(const clsa_model* model, int32_t buffer, float* dst, int64_t count);
CLSA_API clsa_status clsa_model_set_buffer(clsa_model* model, int32_t buffer, const float* src, int64_t count);

/* The counters of a checkpoint: queue pointer, steps taken, the shuffle RNG's state. */
typedef struct clsa_model_counters {
  int64_t queue_pointer;
  int64_t step;
  uint32_t rng[4];
} clsa_model_counters;
CLSA_API clsa_status clsa_model_get_counters(const clsa_model* model, clsa_model_counters* counters);
CLSA_API clsa_status clsa_model_set_counters(clsa_model* model, const clsa_model_counters* counters);

/* Data-parallel training: makes `model` this rank's replica in a job over `comm` (clsa/comm.h);
 * NULL makes it a single process again. Collective: every rank calls it with a model built from
 * the same configuration (device_index aside) and the same check_every, else every rank gets
 * CLSA_ERR_COMM naming the first field that differs. Rank 0's state (every buffer and the
 * counters) is then broadcast, so the replicas start identical and a resumed run needs its
 * checkpoint on rank 0 only.
 *
 * Each clsa_model_step then takes this rank's n rows of a global batch of N = n * size rows (rank
 * r holds global rows r n .. r n + n - 1) and computes what one process computes on the global
 * batch with split_bn * size BN groups, up to summation order:
 *   - the key views are all-gathered; one permutation of the N rows is drawn from the shared
 *     shuffle generator on every rank, and rank r's key encoder encodes the permutation's r-th
 *     slice of n rows with split_bn groups (MoCo's shuffle-BN across ranks); the keys are
 *     all-gathered and un-permuted, so every rank holds the N keys of the global batch in order;
 *   - the query encoder encodes the rank's own rows (BN per rank with split_bn groups, as DDP
 *     without SyncBN, i.e. the single process's groups);
 *   - the head scores the rank's query rows against all N keys plus the queue (the positive of
 *     global row i is key i), as a mean over the rank's rows;
 *   - the gradient, the loss statistics and both encoders' BN running statistics are averaged
 *     over the ranks (all-reduce): the mean of per-rank means of equal shares is the global mean,
 *     and the running statistics become those of one process over all groups (DDP would copy
 *     rank 0's instead);
 *   - every rank applies the same SGD update and enqueues the same N keys in global order.
 * Every `check_every` steps (0 = never after this call) a hash of each state buffer and of the
 * counters is compared across ranks; replicas that differ fail that step (after its update) with
 * CLSA_ERR_COMM on every rank, naming the buffer and the ranks.
 * The communicator must outlive its use by the model; one model per communicator at a time. The
 * MPI back end moves host memory: it serves CPU models (CLSA_ERR_UNSUPPORTED for a CUDA model).
 * The NCCL back end moves device memory: it serves CUDA models on the communicator's GPU
 * (CLSA_ERR_UNSUPPORTED for a CPU model, CLSA_ERR_INVALID_ARGUMENT for another GPU); the step's
 * collectives are enqueued on the model's stream, host views are uploaded before they are
 * gathered, and the few host values exchanged (configuration, counters, hashes, loss statistics)
 * pass through a small device buffer. */
CLSA_API clsa_status clsa_model_set_comm(clsa_model* model, struct clsa_comm* comm, int64_t check_every);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLSA_MODEL_H */
