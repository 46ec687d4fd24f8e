// Internal helpers shared by the back ends: error reporting and argument checks.
#pragma once
#include <cstdarg>
#include <cstdint>
#include "clsa/clsa.h"

namespace clsa {

// Records a formatted message for the calling thread and returns `status`, so a failing
// check reads `return fail(CLSA_ERR_INVALID_ARGUMENT, "...", ...)`.
clsa_status fail(clsa_status status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();

// Largest dimension and element count we accept: 32-bit friendly dims, no 64-bit overflow.
constexpr int64_t kMaxDim = INT32_MAX;
constexpr int64_t kMaxElements = int64_t(1) << 62;

}  // namespace clsa

#define CLSA_TRY(expr)                          \
  do {                                          \
    clsa_status clsa_try_s_ = (expr);           \
    if (clsa_try_s_ != CLSA_OK) return clsa_try_s_; \
  } while (0)
