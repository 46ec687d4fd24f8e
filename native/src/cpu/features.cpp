#include "head.h"
#include "kernels.h"

namespace clsa::cpu {
const char* cpu_features() { return head_kernels().name; }
}  // namespace clsa::cpu
