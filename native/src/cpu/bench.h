// Native helpers that exist only for the benchmark (bench/run.js through the addon's bench
// bindings); not part of the C API.
#pragma once
#include <cstddef>

namespace clsa::cpu {

// memcpy of `bytes`, split into 256 KB chunks over the CPU pool the way the EMA update is, so
// the two bandwidths are comparable. `libc`: std::memcpy per chunk; otherwise a plain copy loop
// (the two differ by machine: libc may pick rep movsb or non-temporal stores).
void bench_memcpy(void* dst, const void* src, size_t bytes, bool libc);

}  // namespace clsa::cpu
