// Stand-in for <cuda_fp16.h> in the emulated build: __half as its bits, conversions rounded to
// nearest even exactly as the device converts (emu/ptx.cpp).
#pragma once
#include <cstdint>

#include "cuda_runtime.h"

struct __half {
  uint16_t bits;
};
struct __half2 {
  __half x, y;  // x: the low 16 bits
};
inline __half __float2half_rn(float f) { return {emu::f32_to_f16_rn(f)}; }
inline float __half2float(__half h) { return emu::f16_to_f32(h.bits); }
inline __half2 __floats2half2_rn(float lo, float hi) { return {__float2half_rn(lo), __float2half_rn(hi)}; }
static_assert(sizeof(__half2) == 4, "two halves in one 32-bit register");
