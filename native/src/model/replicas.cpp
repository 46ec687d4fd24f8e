// A model as one replica of a data-parallel job (clsa_model_set_comm): the configuration compared
// across ranks, rank 0's state broadcast, and the periodic check that the replicas stayed equal.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../internal.h"
#include "model_impl.h"

using namespace clsa;

namespace {

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

struct Field {
  const char* name;
  uint64_t value;
  bool is_float;
};

// Every field that shapes the step, by name. device_index is left out: ranks on one machine use
// different GPUs. check_every is in: its hash checks are collectives that every rank must join.
std::vector<Field> fields(const clsa_model_config& c, int64_t check_every) {
  return {{"device", uint64_t(c.device), false},
          {"arch", uint64_t(c.arch), false},
          {"width", uint64_t(c.width), false},
          {"depth", uint64_t(c.depth), false},
          {"in_channels", uint64_t(c.in_channels), false},
          {"proj_hidden", uint64_t(c.proj_hidden), false},
          {"proj_dim", uint64_t(c.proj_dim), false},
          {"queue_size", uint64_t(c.queue_size), false},
          {"temperature", bits(c.temperature), true},
          {"ddm_temperature", bits(c.ddm_temperature), true},
          {"ddm_weight", bits(c.ddm_weight), true},
          {"encoder_momentum", bits(c.encoder_momentum), true},
          {"momentum", bits(c.momentum), true},
          {"weight_decay", bits(c.weight_decay), true},
          {"split_bn", uint64_t(c.split_bn), false},
          {"bn_momentum", bits(c.bn_momentum), true},
          {"bn_eps", bits(c.bn_eps), true},
          {"seed", uint64_t(c.seed), false},
          {"precision", uint64_t(c.precision), false},
          {"symmetric", uint64_t(c.symmetric), false},
          {"loss_reduction", uint64_t(c.loss_reduction), false},
          {"check_every", uint64_t(check_every), false}};
}

std::string show(const Field& f, uint64_t v) {
  char buf[64];
  if (f.is_float) {
    float x;
    const uint32_t u = uint32_t(v);
    std::memcpy(&x, &u, sizeof x);
    std::snprintf(buf, sizeof buf, "%.9g", x);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", (long long)int64_t(v));
  }
  return buf;
}

// 64-bit words folded by xor and an odd multiply (FNV-1a's prime): each step is a bijection of
// the state, so two inputs that differ in exactly one word always hash differently.
uint64_t hash_bytes(const void* p, size_t bytes, uint64_t h = 0xcbf29ce484222325ull) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < bytes; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

// Rank 0's buffers (in the model's memory, which is the communicator's) and counters to every rank.
clsa_status broadcast_state(clsa_model& m, clsa_comm* comm) {
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b)
    CLSA_TRY(clsa_comm_broadcast(comm, model::buffer(m, b)->data(), model::buffer_count(m, b), CLSA_COMM_FLOAT32, 0,
                                 nullptr));
  uint64_t counters[6] = {uint64_t(m.queue_pointer), uint64_t(m.step), m.rng.s[0], m.rng.s[1], m.rng.s[2], m.rng.s[3]};
  CLSA_TRY(model::host_broadcast(m, comm, counters, 6, CLSA_COMM_UINT64));
  m.queue_pointer = int64_t(counters[0]);
  m.step = int64_t(counters[1]);
  for (int i = 0; i < 4; ++i) m.rng.s[i] = uint32_t(counters[2 + i]);
  return CLSA_OK;
}

clsa_status compare_configs(clsa_model& m, clsa_comm* comm, int32_t world, int64_t check_every) {
  const std::vector<Field> mine = fields(m.cfg, check_every);
  const size_t nf = mine.size();
  std::vector<uint64_t> all(nf * size_t(world));
  for (size_t i = 0; i < nf; ++i) all[i] = mine[i].value;  // sent from the front, gathered in rank order
  std::vector<uint64_t> send(all.begin(), all.begin() + nf);
  CLSA_TRY(model::host_all_gather(m, comm, send.data(), all.data(), int64_t(nf), CLSA_COMM_UINT64, world));
  for (int32_t r = 1; r < world; ++r)
    for (size_t i = 0; i < nf; ++i)
      if (all[size_t(r) * nf + i] != all[i])
        return fail(CLSA_ERR_COMM,
                    "clsa_model_set_comm: config->%s: rank %d has %s but rank 0 has %s; every rank must build the same "
                    "model (device_index aside) with the same check_every",
                    mine[i].name, r, show(mine[i], all[size_t(r) * nf + i]).c_str(), show(mine[i], all[i]).c_str());
  return CLSA_OK;
}

}  // namespace

namespace clsa::model {

namespace {
bool on_host(const clsa_model& m) { return m.ops->device() == CLSA_DEVICE_CPU; }
// A uint64 is two floats' bytes in the staging buffer (the copies are bytewise).
int64_t staged_floats(int64_t count, int32_t dtype) { return dtype == CLSA_COMM_UINT64 ? 2 * count : count; }
}  // namespace

clsa_status host_all_gather(clsa_model& m, clsa_comm* comm, const void* mine, void* all, int64_t count, int32_t dtype,
                            int32_t world) {
  if (on_host(m)) return clsa_comm_all_gather(comm, mine, all, count, dtype, nullptr);
  const int64_t f = staged_floats(count, dtype);
  float* s = m.ops->sized(m.host_staging, f * (int64_t(world) + 1));  // the gathered rows, then this rank's
  m.ops->upload(s + f * world, static_cast<const float*>(mine), f);
  CLSA_TRY(clsa_comm_all_gather(comm, s + f * world, s, count, dtype, nullptr));
  m.ops->download(static_cast<float*>(all), s, f * world);
  return CLSA_OK;
}

clsa_status host_broadcast(clsa_model& m, clsa_comm* comm, void* buf, int64_t count, int32_t dtype) {
  if (on_host(m)) return clsa_comm_broadcast(comm, buf, count, dtype, 0, nullptr);
  const int64_t f = staged_floats(count, dtype);
  float* s = m.ops->sized(m.host_staging, f);
  m.ops->upload(s, static_cast<const float*>(buf), f);
  CLSA_TRY(clsa_comm_broadcast(comm, s, count, dtype, 0, nullptr));
  m.ops->download(static_cast<float*>(buf), s, f);
  return CLSA_OK;
}

clsa_status host_average(clsa_model& m, float* x, int64_t count) {
  if (on_host(m)) return clsa_comm_all_reduce(m.comm, x, x, count, CLSA_COMM_FLOAT32, CLSA_COMM_MEAN, nullptr);
  float* s = m.ops->sized(m.host_staging, count);
  m.ops->upload(s, x, count);
  CLSA_TRY(clsa_comm_all_reduce(m.comm, s, s, count, CLSA_COMM_FLOAT32, CLSA_COMM_MEAN, nullptr));
  m.ops->download(x, s, count);
  return CLSA_OK;
}

clsa_status check_replicas(clsa_model& m) {
  constexpr int kHashes = CLSA_MODEL_BUFFER_COUNT + 1;
  uint64_t mine[kHashes];
  std::vector<float> host;  // a GPU model's buffer, downloaded to be hashed (every check_every steps)
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b) {
    const float* data = buffer(m, b)->data();
    if (!on_host(m)) {
      host.resize(size_t(buffer_count(m, b)));
      m.ops->download(host.data(), data, buffer_count(m, b));
      data = host.data();
    }
    mine[b] = hash_bytes(data, size_t(buffer_count(m, b)) * sizeof(float));
  }
  const int64_t counters[2] = {m.queue_pointer, m.step};
  mine[CLSA_MODEL_BUFFER_COUNT] = hash_bytes(m.rng.s, sizeof m.rng.s, hash_bytes(counters, sizeof counters));
  std::vector<uint64_t> all(size_t(kHashes) * size_t(m.world));
  CLSA_TRY(host_all_gather(m, m.comm, mine, all.data(), kHashes, CLSA_COMM_UINT64, m.world));
  for (int32_t r = 1; r < m.world; ++r)
    for (int b = 0; b < kHashes; ++b)
      if (all[size_t(r) * kHashes + size_t(b)] != all[size_t(b)])
        return fail(CLSA_ERR_COMM,
                    "step %lld: the replicas have diverged: %s of rank %d (hash %016llx) differs from rank 0's (%016llx); "
                    "the parameters are no longer those of one model (was a rank's state set by hand, or its library "
                    "built differently?)",
                    (long long)m.step, b < CLSA_MODEL_BUFFER_COUNT ? clsa_model_buffer_name(b) : "the counters (queue pointer, step, shuffle generator)",
                    r, (unsigned long long)all[size_t(r) * kHashes + size_t(b)], (unsigned long long)all[size_t(b)]);
  return CLSA_OK;
}

}  // namespace clsa::model

extern "C" clsa_status clsa_model_set_comm(clsa_model* m, clsa_comm* comm, int64_t check_every) {
  clear_error();
  if (!m) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: expected a model handle but got NULL");
  if (check_every < 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "check_every: expected steps >= 0 (0 = no periodic check) but got %lld",
                (long long)check_every);
  if (m->busy.exchange(true)) return fail(CLSA_ERR_INVALID_ARGUMENT, "model: is busy with another call (one step at a time)");
  struct Release {
    clsa_model* m;
    ~Release() { m->busy.store(false); }
  } release{m};
  if (!comm) {
    m->comm = nullptr;
    m->rank = 0;
    m->world = 1;
    m->check_every = 0;
    m->all_images.reset();
    m->all_z.reset();
    m->candidates.reset();
    m->image_staging.reset();
    m->host_staging.reset();
    return CLSA_OK;
  }
  clsa_comm_info info;
  CLSA_TRY(clsa_comm_get_info(comm, &info));
  const bool gpu = m->ops->device() == CLSA_DEVICE_CUDA;
  if (info.device != m->ops->device())
    return fail(CLSA_ERR_UNSUPPORTED,
                "comm: the %s back end exchanges %s memory, but the model lives on %s; %s models need the %s back end "
                "(docs/distributed.md)",
                info.backend == CLSA_COMM_MPI ? "MPI" : "NCCL", info.device == CLSA_DEVICE_CPU ? "host" : "GPU",
                gpu ? "a GPU" : "the CPU", gpu ? "GPU" : "CPU", gpu ? "NCCL (CLSA_COMM_NCCL)" : "MPI (CLSA_COMM_MPI)");
  if (gpu && info.device_index != m->ops->device_index())
    return fail(CLSA_ERR_INVALID_ARGUMENT,
                "comm: the NCCL communicator was created on GPU %d but the model lives on GPU %d; one GPU per rank: "
                "build the model with device_index %d, or the communicator with the model's",
                info.device_index, m->ops->device_index(), info.device_index);
  try {
    m->ops->bind();
    CLSA_TRY(compare_configs(*m, comm, info.size, check_every));
    CLSA_TRY(broadcast_state(*m, comm));
  } catch (const model::OpsError& e) {
    return e.status;
  }
  m->comm = comm;
  m->rank = info.rank;
  m->world = info.size;
  m->check_every = check_every;
  return CLSA_OK;
}
