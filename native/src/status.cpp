// Status strings and the per-thread error message behind clsa_last_error().
#include <cstdio>
#include "internal.h"

namespace {
thread_local char g_message[1024] = {0};
}

namespace clsa {

clsa_status fail(clsa_status status, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(g_message, sizeof g_message, fmt, args);
  va_end(args);
  return status;
}

void clear_error() { g_message[0] = 0; }

}  // namespace clsa

extern "C" {

const char* clsa_status_string(clsa_status status) {
  switch (status) {
    case CLSA_OK: return "CLSA_OK";
    case CLSA_ERR_INVALID_ARGUMENT: return "CLSA_ERR_INVALID_ARGUMENT";
    case CLSA_ERR_OUT_OF_MEMORY: return "CLSA_ERR_OUT_OF_MEMORY";
    case CLSA_ERR_NOT_COMPILED: return "CLSA_ERR_NOT_COMPILED";
    case CLSA_ERR_NO_DEVICE: return "CLSA_ERR_NO_DEVICE";
    case CLSA_ERR_CUDA: return "CLSA_ERR_CUDA";
    case CLSA_ERR_UNSUPPORTED: return "CLSA_ERR_UNSUPPORTED";
    case CLSA_ERR_NON_FINITE: return "CLSA_ERR_NON_FINITE";
    case CLSA_ERR_CANCELLED: return "CLSA_ERR_CANCELLED";
    case CLSA_ERR_INTERNAL: return "CLSA_ERR_INTERNAL";
    case CLSA_ERR_COMM: return "CLSA_ERR_COMM";
  }
  return "CLSA_ERR_UNKNOWN";
}

const char* clsa_last_error(void) { return g_message; }

const char* clsa_version(void) { return "0.1.0"; }

}  // extern "C"
