// Portable variant of the kNN block product (baseline SIMD of the target, 4x3 accumulators of 12 columns).
#define CLSA_VBYTES 16
#define CLSA_NV 3
#define CLSA_VARIANT dot_generic
#define CLSA_VARIANT_NAME "generic"
#include "dot_tile.inl"
