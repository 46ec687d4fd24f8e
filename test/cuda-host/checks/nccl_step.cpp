// The CUDA training step across ranks over the NCCL back end, under the emulator: run by
// test/cuda-emu.test.ts as `mpirun -np 2 emu_nccl_step --seed S` with CLSA_NCCL_LIBRARY naming the
// host-memory NCCL stand-in (test/fake-nccl), which works on the emulator's device memory since
// that is host memory. Every rank makes the same global batches (the same --seed); its CUDA model,
// attached to an NCCL communicator, steps on its half, while a CUDA model of its own steps alone
// on the whole batches with twice the split-BN groups: the step one process computes (the CPU
// version of this is test/distributed.test.ts). Bounds: losses 1e-5 and state 1e-4 relative (the
// two add the same terms in other orders, ~1e-7 measured; test/distributed.test.ts says why a
// ReLU input near zero may jump further at this learning rate), where a wrong row, key or group
// moves them by 1e-2 or more (as a rank's key rows read past the image count did, once). The
// replica check runs every step (check_every 1), so the ranks'
// replicas are compared bit for bit through the GPU path (downloads, staged host arrays).
// What this does not exercise: a real NCCL, real device pointers, streams, several GPUs.
#include <cmath>
#include <cstring>
#include <memory>

#include "clsa/comm.h"
#include "clsa/model.h"
#include "common.h"

using namespace emu_check;
using V = std::vector<float>;

namespace {

constexpr double kLossBound = 1e-5, kStateBound = 1e-4;
constexpr int64_t kRowsPerRank = 4, kChannels = 3, kSide = 10;


clsa_model* model(int32_t split_bn) {
  clsa_model_config cfg;
  clsa_model_config_default(&cfg);
  cfg.arch = CLSA_ARCH_RESNET_MINI, cfg.width = 6, cfg.depth = 1, cfg.in_channels = int32_t(kChannels);
  cfg.proj_hidden = 24, cfg.proj_dim = 20, cfg.queue_size = 45, cfg.split_bn = split_bn, cfg.seed = 7;
  cfg.device = CLSA_DEVICE_CUDA;
  cfg.precision = CLSA_PRECISION_FP32;
  clsa_model* m = nullptr;
  ok("cuda model (split_bn " + std::to_string(split_bn) + ")", clsa_model_create(&cfg, &m));
  return m;
}

// One view of the global batch, and this rank's rows of it.
struct View {
  V all, mine;
  clsa_images global{}, local{};
};
void make(View& v, int64_t world, int32_t rank) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t per = kChannels * kSide * kSide;
  v.all.resize(size_t(kRowsPerRank * world * per));
  for (float& f : v.all) f = nd(rng);
  v.mine.assign(v.all.begin() + rank * kRowsPerRank * per, v.all.begin() + (rank + 1) * kRowsPerRank * per);
  v.global = {v.all.data(), kRowsPerRank * world, kChannels, kSide, kSide};
  v.local = {v.mine.data(), kRowsPerRank, kChannels, kSide, kSide};
}

}  // namespace

int main(int argc, char** argv) {
  start("emu_nccl_step", argc, argv);
  // One emulated GPU per process: both ranks use device 0 (their own emulators).
  clsa_comm_options o{CLSA_COMM_NCCL, 0, nullptr};
  clsa_comm* comm = nullptr;
  ok("clsa_comm_create(CLSA_COMM_NCCL)", clsa_comm_create(&o, &comm));
  if (!comm) {
    std::printf("%s\n", clsa_last_error());
    return finish();
  }
  clsa_comm_info info{};
  ok("clsa_comm_get_info", clsa_comm_get_info(comm, &info));
  record(info.backend == CLSA_COMM_NCCL && info.device == CLSA_DEVICE_CUDA && info.size == 2, "an NCCL world of 2 on the GPU");
  const int32_t rank = info.rank, world = info.size;

  clsa_model* dist = model(2);
  clsa_model* one = model(2 * world);
  if (!dist || !one) return finish();

  // The MPI back end exchanges host memory: it refuses a GPU model, naming the back end to use.
  clsa_comm_options mo{CLSA_COMM_MPI, 0, nullptr};
  clsa_comm* mpi = nullptr;
  ok("clsa_comm_create(CLSA_COMM_MPI)", clsa_comm_create(&mo, &mpi));
  const clsa_status refused = clsa_model_set_comm(dist, mpi, 1);
  record(refused == CLSA_ERR_UNSUPPORTED && std::strstr(clsa_last_error(), "GPU models need the NCCL (CLSA_COMM_NCCL) back end"),
         "MPI with a GPU model is refused", clsa_last_error());
  clsa_comm_destroy(mpi);

  // Rank 1's model starts elsewhere: attach broadcasts rank 0's state (and compares configs).
  if (rank == 1) {
    V p = model_buffer(dist, CLSA_MODEL_QUERY_PARAMS);
    p[0] += 1.0f;
    clsa_model_set_buffer(dist, CLSA_MODEL_QUERY_PARAMS, p.data(), int64_t(p.size()));
  }
  ok("clsa_model_set_comm (check every step)", clsa_model_set_comm(dist, comm, 1));
  bound("attach: rank 0's parameters on every rank", rel_norm(model_buffer(dist, CLSA_MODEL_QUERY_PARAMS), model_buffer(one, CLSA_MODEL_QUERY_PARAMS)), 0);

  const int steps = 3;
  for (int s = 0; s < steps; ++s) {
    View key, weak, strong;
    make(key, world, rank);
    make(weak, world, rank);
    make(strong, world, rank);
    // The last step hands the distributed model its key view in device memory (no upload before the gather).
    std::unique_ptr<Dev<float>> dkey;
    if (s == steps - 1) {
      dkey.reset(new Dev<float>(key.mine));
      key.local.data = dkey->p;
    }
    clsa_step_views vd{key.local, &weak.local, 1, &strong.local, 1};
    clsa_step_views vo{key.global, &weak.global, 1, &strong.global, 1};
    clsa_step_result rd{}, ro{};
    const std::string st = "step " + std::to_string(s + 1);
    ok(st + " on 2 ranks", clsa_model_step(dist, &vd, 0.05f, &rd));
    ok(st + " in one process", clsa_model_step(one, &vo, 0.05f, &ro));
    bound(st + " loss", rel_err(rd.loss, ro.loss), kLossBound);
    bound(st + " nce", rel_err(rd.nce_loss, ro.nce_loss), kLossBound);
    bound(st + " ddm", rel_err(rd.ddm_loss, ro.ddm_loss), kLossBound);
    bound(st + " accuracy", std::fabs(rd.accuracy - ro.accuracy), 2.0 / double(kRowsPerRank * world));
  }
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b)
    bound("after " + std::to_string(steps) + " steps: " + clsa_model_buffer_name(b), rel_norm(model_buffer(dist, b), model_buffer(one, b)),
          kStateBound);
  clsa_model_counters cd{}, co{};
  clsa_model_get_counters(dist, &cd);
  clsa_model_get_counters(one, &co);
  record(cd.queue_pointer == co.queue_pointer && cd.step == co.step, "queue pointer and step count as one process's");

  ok("detach", clsa_model_set_comm(dist, nullptr, 0));
  clsa_model_destroy(dist);
  clsa_model_destroy(one);
  ok("clsa_comm_finalize", clsa_comm_finalize(comm));
  clsa_comm_destroy(comm);
  return finish();
}
