// What a communication back end provides behind clsa_comm (comm.cpp checks the arguments, a
// back end moves the bytes). Counts arrive checked: 0 .. INT32_MAX elements, known dtype and op;
// `stream` is NULL for MPI (checked) and a cudaStream_t (NULL: the legacy default stream) for NCCL.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "clsa/comm.h"

namespace clsa::comm {

inline size_t dtype_size(int32_t dtype) { return dtype == CLSA_COMM_UINT64 ? 8 : 4; }

class Backend {
 public:
  virtual ~Backend() = default;
  virtual clsa_status all_reduce(const void* send, void* recv, int64_t count, int32_t dtype, int32_t op,
                                 void* stream) = 0;
  virtual clsa_status all_gather(const void* send, void* recv, int64_t count, int32_t dtype, void* stream) = 0;
  virtual clsa_status broadcast(void* buf, int64_t count, int32_t dtype, int32_t root, void* stream) = 0;
  virtual clsa_status barrier() = 0;
  virtual clsa_status finalize() = 0;
  virtual clsa_status abort(int32_t code) = 0;
};

// Opens Open MPI (dlopen of `library`, NULL = $CLSA_MPI_LIBRARY or libmpi.so.40), initialises
// it when the process has not, and fills the world's description into *info.
clsa_status open_mpi(const char* library, clsa_comm_info* info, std::unique_ptr<Backend>* out);

// Opens NCCL (dlopen of options->library, else $CLSA_NCCL_LIBRARY, else libnccl.so.2 on the loader's
// path and where CUDA and PyTorch install it), bootstraps it over MPI (open_mpi with
// $CLSA_MPI_LIBRARY or its default) on options->device_index (< 0: the local rank) and fills *info.
// Collective: every rank of the job calls it, and either every rank gets a communicator or every
// rank fails (a rank that cannot load NCCL or use its GPU tells the others over MPI first).
clsa_status open_nccl(const clsa_comm_options& options, clsa_comm_info* info, std::unique_ptr<Backend>* out);

}  // namespace clsa::comm
