// Stand-in for <cuda_bf16.h> in the emulated build (see cuda_fp16.h).
#pragma once
#include <cstdint>

#include "cuda_runtime.h"

struct __nv_bfloat16 {
  uint16_t bits;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;  // x: the low 16 bits
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {emu::f32_to_bf16_rn(f)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return emu::bf16_to_f32(h.bits); }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) {
  return {__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)};
}
static_assert(sizeof(__nv_bfloat162) == 4, "two bfloat16 in one 32-bit register");
