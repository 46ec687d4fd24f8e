// Portable variant of the comparison SGEMM (16-byte vectors).
#define CLSA_VBYTES 16
#define CLSA_MR 4
#define CLSA_NV 3
#define CLSA_VARIANT sgemm_generic
#include "sgemm.inl"
