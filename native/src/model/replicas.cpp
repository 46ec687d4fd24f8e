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

// Rank 0's buffers and counters to every rank (host memory: the MPI back end serves CPU models).
clsa_status broadcast_state(clsa_model& m, clsa_comm* comm) {
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b)
    CLSA_TRY(clsa_comm_broadcast(comm, model::buffer(m, b)->data(), model::buffer_count(m, b), CLSA_COMM_FLOAT32, 0,
                                 nullptr));
  uint64_t counters[6] = {uint64_t(m.queue_pointer), uint64_t(m.step), m.rng.s[0], m.rng.s[1], m.rng.s[2], m.rng.s[3]};
  CLSA_TRY(clsa_comm_broadcast(comm, counters, 6, CLSA_COMM_UINT64, 0, nullptr));
  m.queue_pointer = int64_t(counters[0]);
  m.step = int64_t(counters[1]);
  for (int i = 0; i < 4; ++i) m.rng.s[i] = uint32_t(counters[2 + i]);
  return CLSA_OK;
}

clsa_status compare_configs(const clsa_model& m, clsa_comm* comm, int32_t world, int64_t check_every) {
  const std::vector<Field> mine = fields(m.cfg, check_every);
  const size_t nf = mine.size();
  std::vector<uint64_t> all(nf * size_t(world));
  for (size_t i = 0; i < nf; ++i) all[i] = mine[i].value;  // sent from the front, gathered in rank order
  std::vector<uint64_t> send(all.begin(), all.begin() + nf);
  CLSA_TRY(clsa_comm_all_gather(comm, send.data(), all.data(), int64_t(nf), CLSA_COMM_UINT64, nullptr));
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

clsa_status check_replicas(clsa_model& m) {
  constexpr int kHashes = CLSA_MODEL_BUFFER_COUNT + 1;
  uint64_t mine[kHashes];
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b)
    mine[b] = hash_bytes(buffer(m, b)->data(), size_t(buffer_count(m, b)) * sizeof(float));
  const int64_t counters[2] = {m.queue_pointer, m.step};
  mine[CLSA_MODEL_BUFFER_COUNT] = hash_bytes(m.rng.s, sizeof m.rng.s, hash_bytes(counters, sizeof counters));
  std::vector<uint64_t> all(size_t(kHashes) * size_t(m.world));
  CLSA_TRY(clsa_comm_all_gather(m.comm, mine, all.data(), kHashes, CLSA_COMM_UINT64, nullptr));
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
    return CLSA_OK;
  }
  clsa_comm_info info;
  CLSA_TRY(clsa_comm_get_info(comm, &info));
  if (info.device != m->ops->device())
    return fail(CLSA_ERR_UNSUPPORTED,
                "comm: the %s back end exchanges %s memory, but the model lives on %s; GPU ranks need the NCCL back end, "
                "which is not implemented yet (docs/distributed.md)",
                info.backend == CLSA_COMM_MPI ? "MPI" : "NCCL", info.device == CLSA_DEVICE_CPU ? "host" : "GPU",
                m->ops->device() == CLSA_DEVICE_CPU ? "the CPU" : "a GPU");
  CLSA_TRY(compare_configs(*m, comm, info.size, check_every));
  CLSA_TRY(broadcast_state(*m, comm));
  m->comm = comm;
  m->rank = info.rank;
  m->world = info.size;
  m->check_every = check_every;
  return CLSA_OK;
}
