// Between the scheduler and the emulated CUDA runtime (runtime.cpp).
#pragma once
#include "cuda_runtime.h"

namespace emu {
unsigned long long seed();
bool shared_ptr_ok(const void* p, size_t bytes);
namespace runtime {
// cudaErrorInvalidConfiguration / cudaErrorInvalidValue for launches a device would refuse.
cudaError_t check_launch(const LaunchConfig& cfg);
void set_last_error(cudaError_t e);
// Records the kernel's name for the coverage list (CLSA_EMU_LAUNCH_LOG).
void note_launch(const LaunchConfig& cfg);
}  // namespace runtime
}  // namespace emu
