// Portable variant of the kNN block product (baseline SIMD of the target, 4x2 accumulators).
#define CLSA_VBYTES 16
#define CLSA_NR 2
#define CLSA_VARIANT dot_generic
#define CLSA_VARIANT_NAME "generic"
#include "dot_tile.inl"
