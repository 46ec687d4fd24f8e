// CPU kernels other than the head, called by the C API dispatcher.
#pragma once
#include <cstdint>
#include "clsa/clsa.h"

namespace clsa::cpu {
void momentum_update(float* target, const float* source, int64_t count, float m);
clsa_status queue_enqueue(float* queue, int64_t k, int64_t d, const float* keys, int64_t n, bool normalize,
                          int64_t* pointer);
const char* cpu_features();
void scan_rows(const float* data, int64_t rows, int64_t cols, int64_t* first_nonfinite, int64_t* first_zero_row);
}  // namespace clsa::cpu
