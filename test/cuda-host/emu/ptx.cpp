// Host twins of the PTX the kernels use through small wrappers (head_mma.cu, nn/gemm.cuh):
// number formats, mma.sync and ldmatrix, lane by lane from the fragment layouts of the PTX ISA
// ("Matrix Fragments for mma.m16n8k8 / mma.m16n8k16"; groupID = lane >> 2, tig = lane & 3).
//
// An mma is a warp-synchronous operation: every lane deposits its fragments, the last to arrive
// assembles A, B and C, computes D = A B + C and hands each lane its D fragment. Products of the
// 16-bit and tf32 inputs are exact in double; the sum of the k products and C is formed in double
// and rounded once to fp32 (the device's internal accumulation order is unspecified; the checks'
// tolerances cover the difference). A lane whose fragments come from the wrong place computes a
// wrong element of D, which is what makes a swapped fragment visible.
#include <cstdio>
#include <cstring>

#include "cuda_runtime.h"
#include "runtime_internal.h"

namespace emu {

namespace {
uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

uint16_t f32_to_f16_rn(float f) {
  uint32_t x = bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00;                // NaN
  if (x >= 0x477ff000u) return sign | 0x7c00;               // rounds to infinity (>= 65520)
  if (x < 0x38800000u) {                                    // below 2^-14: a subnormal half
    const float a = from_bits(x) * 16777216.0f;             // in units of 2^-24, exact
    return sign | uint16_t(std::nearbyint(a));              // ties to even (default rounding mode)
  }
  uint32_t r = x - (uint32_t(127 - 15) << 23);
  r += 0xfffu + ((r >> 13) & 1u);
  return sign | uint16_t(r >> 13);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) return (sign ? -1.0f : 1.0f) * float(m) * (1.0f / 16777216.0f);
  if (e == 31) return from_bits(sign | 0x7f800000u | (m << 13));
  return from_bits(sign | ((e + 127 - 15) << 23) | (m << 13));
}

uint16_t f32_to_bf16_rn(float f) {
  const uint32_t x = bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_f32(uint16_t h) { return from_bits(uint32_t(h) << 16); }

uint32_t cvt_rna_tf32(float f) {
  const uint32_t x = bits(f);
  if ((x & 0x7f800000u) == 0x7f800000u) return x;  // inf / NaN unchanged
  return (x + 0x1000u) & 0xffffe000u;
}

namespace {

// The value a tensor core reads from a tf32 operand register: its top 19 bits.
double tf32_val(uint32_t r) { return double(from_bits(r & 0xffffe000u)); }
double lo16(uint32_t r, bool bf) { return bf ? double(bf16_to_f32(uint16_t(r))) : double(f16_to_f32(uint16_t(r))); }
double hi16(uint32_t r, bool bf) {
  return bf ? double(bf16_to_f32(uint16_t(r >> 16))) : double(f16_to_f32(uint16_t(r >> 16)));
}

struct MmaPayload {
  uint32_t a[4], b[2];
  float c[4];
};

// Kind of operation, passed as the compute context.
enum Kind { TF32_K8, BF16_K16, F16_K16, F16_K8 };

void mma_compute(const unsigned char* p, unsigned char* r, unsigned mask, const void* ctx) {
  if (mask != 0xffffffffu) kernel_error("mma.sync needs the whole warp (mask %08x)", mask);
  const Kind kind = Kind(reinterpret_cast<uintptr_t>(ctx));
  const int K = (kind == TF32_K8 || kind == F16_K8) ? 8 : 16;
  double A[16][16] = {}, B[16][8] = {}, C[16][8] = {};
  for (int l = 0; l < 32; ++l) {
    MmaPayload f;
    std::memcpy(&f, p + l * kWarpSlot, sizeof f);
    const int g = l >> 2, t = l & 3;
    switch (kind) {
      case TF32_K8:
        // A: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B: b0 (t, g), b1 (t+4, g).
        A[g][t] = tf32_val(f.a[0]);
        A[g + 8][t] = tf32_val(f.a[1]);
        A[g][t + 4] = tf32_val(f.a[2]);
        A[g + 8][t + 4] = tf32_val(f.a[3]);
        B[t][g] = tf32_val(f.b[0]);
        B[t + 4][g] = tf32_val(f.b[1]);
        break;
      case BF16_K16:
      case F16_K16: {
        // A regs: {(g, 2t), (g, 2t+1)}, {(g+8, 2t..)}, {(g, 2t+8..)}, {(g+8, 2t+8..)} (low half first);
        // B regs: {(2t, g), (2t+1, g)}, {(2t+8, g), (2t+9, g)}.
        const bool bf = kind == BF16_K16;
        const int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
        for (int i = 0; i < 4; ++i) {
          A[rows[i]][cols[i]] = lo16(f.a[i], bf);
          A[rows[i]][cols[i] + 1] = hi16(f.a[i], bf);
        }
        B[2 * t][g] = lo16(f.b[0], bf);
        B[2 * t + 1][g] = hi16(f.b[0], bf);
        B[2 * t + 8][g] = lo16(f.b[1], bf);
        B[2 * t + 9][g] = hi16(f.b[1], bf);
        break;
      }
      case F16_K8:
        // A regs: {(g, 2t), (g, 2t+1)}, {(g+8, 2t), (g+8, 2t+1)}; B reg: {(2t, g), (2t+1, g)}.
        A[g][2 * t] = lo16(f.a[0], false);
        A[g][2 * t + 1] = hi16(f.a[0], false);
        A[g + 8][2 * t] = lo16(f.a[1], false);
        A[g + 8][2 * t + 1] = hi16(f.a[1], false);
        B[2 * t][g] = lo16(f.b[0], false);
        B[2 * t + 1][g] = hi16(f.b[0], false);
        break;
    }
    // C / D: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
    C[g][2 * t] = f.c[0];
    C[g][2 * t + 1] = f.c[1];
    C[g + 8][2 * t] = f.c[2];
    C[g + 8][2 * t + 1] = f.c[3];
  }
  float D[16][8];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      double s = C[i][j];
      for (int k = 0; k < K; ++k) s += A[i][k] * B[k][j];
      D[i][j] = float(s);
    }
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    const float d[4] = {D[g][2 * t], D[g][2 * t + 1], D[g + 8][2 * t], D[g + 8][2 * t + 1]};
    std::memcpy(r + l * kWarpSlot, d, sizeof d);
  }
}

void mma(Kind kind, const char* what, float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  MmaPayload f{{a[0], a[1], a[2], a[3]}, {b0, b1}, {c[0], c[1], c[2], c[3]}};
  warp_sync_op(0xffffffffu, what, &f, sizeof f, c, sizeof c, mma_compute, reinterpret_cast<const void*>(uintptr_t(kind)));
}

struct LdsmPayload {
  const unsigned char* addr;
  int trans;
};

void ldsm_compute(const unsigned char* p, unsigned char* r, unsigned mask, const void*) {
  if (mask != 0xffffffffu) kernel_error("ldmatrix needs the whole warp (mask %08x)", mask);
  const unsigned char* row[32];
  int trans = 0;
  for (int l = 0; l < 32; ++l) {
    LdsmPayload f;
    std::memcpy(&f, p + l * kWarpSlot, sizeof f);
    row[l] = f.addr;
    trans = f.trans;
    if (reinterpret_cast<uintptr_t>(f.addr) & 15) kernel_error("ldmatrix: row address %p of lane %d is not 16-byte aligned", f.addr, l);
    if (!shared_ptr_ok(f.addr, 16)) kernel_error("ldmatrix: row address %p of lane %d is not shared memory", f.addr, l);
  }
  // Matrix i's eight rows come from lanes 8i..8i+7. Without .trans lane l receives row l/4,
  // elements 2(l%4), 2(l%4)+1 of each matrix; with .trans, the same positions of the transpose.
  for (int l = 0; l < 32; ++l) {
    uint32_t out[4];
    for (int i = 0; i < 4; ++i) {
      uint16_t lo, hi;
      if (!trans) {
        const unsigned char* src = row[8 * i + l / 4] + 4 * (l % 4);
        std::memcpy(&lo, src, 2);
        std::memcpy(&hi, src + 2, 2);
      } else {
        std::memcpy(&lo, row[8 * i + 2 * (l % 4)] + 2 * (l / 4), 2);
        std::memcpy(&hi, row[8 * i + 2 * (l % 4) + 1] + 2 * (l / 4), 2);
      }
      out[i] = uint32_t(lo) | (uint32_t(hi) << 16);
    }
    std::memcpy(r + l * kWarpSlot, out, sizeof out);
  }
}

}  // namespace

void mma_m16n8k8_tf32(float& c0, float& c1, float& c2, float& c3, const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if (arch() < 800) kernel_error("mma.m16n8k8.tf32 needs sm_80");
  float c[4] = {c0, c1, c2, c3};
  mma(TF32_K8, "mma.sync.m16n8k8.tf32", c, a, b0, b1);
  c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
}
void mma_m16n8k16_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if (arch() < 800) kernel_error("mma.m16n8k16.bf16 needs sm_80");
  mma(BF16_K16, "mma.sync.m16n8k16.bf16", c, a, b0, b1);
}
void mma_m16n8k16_f16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if (arch() < 800) kernel_error("mma.m16n8k16.f16 needs sm_80");
  mma(F16_K16, "mma.sync.m16n8k16.f16", c, a, b0, b1);
}
void mma_m16n8k8_f16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
  const uint32_t a[4] = {a0, a1, 0, 0};
  mma(F16_K8, "mma.sync.m16n8k8.f16", c, a, b0, 0);
}
void ldmatrix_x4(uint32_t (&r)[4], const void* row_addr, bool trans) {
  LdsmPayload f{static_cast<const unsigned char*>(row_addr), trans ? 1 : 0};
  warp_sync_op(0xffffffffu, trans ? "ldmatrix.x4.trans" : "ldmatrix.x4", &f, sizeof f, r, sizeof r, ldsm_compute,
               nullptr);
}

}  // namespace emu
