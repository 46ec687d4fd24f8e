// The state behind the opaque clsa_model handle. Every Buf lives in the back end's memory
// (host for the CPU, the GPU's for CUDA); `ops` is declared first so it is destroyed last.
#pragma once
#include <atomic>
#include <memory>
#include <vector>

#include "arch.h"
#include "encoder.h"
#include "rng.h"

struct clsa_model {
  std::unique_ptr<clsa::model::Ops> ops;
  clsa_model_config cfg;
  clsa::model::Arch arch;
  clsa::model::Buf query, key, grad, velocity, query_stats, key_stats, queue;
  int64_t queue_pointer = 0;
  int64_t step = 0;
  clsa::model::Rng rng{0};
  std::atomic<bool> busy{false};
  // Reused workspaces.
  std::vector<clsa::model::Trace> views;
  clsa::model::Trace key_trace, embed_trace;
  clsa::model::GradScratch scratch;
  clsa::model::Buf weak_z, strong_z, keys, grad_weak, grad_strong, head_workspace, head_stats;
  // The symmetric term's: the first weak view's keys, the key view's query embedding and its gradient.
  clsa::model::Buf sym_keys, sym_z, grad_sym;
  std::vector<int64_t> perm;
  // Data parallel (clsa_model_set_comm): this replica's place in the job, and what crosses ranks in a
  // step: every rank's key-view images, the key encoder's rows of every rank, and the head's
  // candidates beyond this rank's own keys (the other ranks' keys, then the queue). On a GPU (NCCL,
  // device memory only) host images and small host arrays cross through the staging buffers.
  clsa_comm* comm = nullptr;
  int32_t rank = 0, world = 1;
  int64_t check_every = 0;
  clsa::model::Buf all_images, all_z, candidates, image_staging, host_staging;
};

namespace clsa::model {
clsa_status step(clsa_model& m, const clsa_step_views& v, float lr, clsa_step_result& r);
clsa_status embed(clsa_model& m, const clsa_images& im, float* features);
clsa_status check_images(const clsa_model& m, const clsa_images& im, const char* name);
// replicas.cpp: every rank's state hashed and compared (CLSA_ERR_COMM naming what differs).
clsa_status check_replicas(clsa_model& m);
// Collectives over small host arrays (loss statistics, counters, configurations, hashes) for a
// model on either back end: NCCL moves device memory only, so a GPU model stages them through
// m.host_staging. `comm` is passed in since clsa_model_set_comm uses them before attaching.
clsa_status host_all_gather(clsa_model& m, clsa_comm* comm, const void* mine, void* all, int64_t count, int32_t dtype,
                            int32_t world);
clsa_status host_broadcast(clsa_model& m, clsa_comm* comm, void* buf, int64_t count, int32_t dtype);
clsa_status host_average(clsa_model& m, float* x, int64_t count);
// Floats in state buffer b (clsa_model_buffer), and the buffer itself.
int64_t buffer_count(const clsa_model& m, int32_t b);
Buf* buffer(clsa_model& m, int32_t b);
}  // namespace clsa::model
