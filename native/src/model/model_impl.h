// The state behind the opaque clsa_model handle.
#pragma once
#include <atomic>
#include <vector>

#include "arch.h"
#include "encoder.h"
#include "rng.h"

struct clsa_model {
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
  clsa::model::Buf weak_z, strong_z, keys, grad_weak, grad_strong;
  std::vector<int64_t> perm;
};

namespace clsa::model {
clsa_status step(clsa_model& m, const clsa_step_views& v, float lr, clsa_step_result& r);
clsa_status embed(clsa_model& m, const clsa_images& im, float* features);
clsa_status check_images(const clsa_model& m, const clsa_images& im, const char* name);
}  // namespace clsa::model
