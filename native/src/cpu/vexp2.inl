// Vector 2^x shared by the per-instruction-set kernels; included inside a variant namespace
// after the vf (float) and vi (int) vector types and splat() are defined.
// 2^x for x <= 0 (clamped at -126 so the exponent field never underflows), relative error ~2e-7: round to nearest integer
// n, a degree-7 polynomial for 2^f on [-0.5, 0.5], then n is added into the exponent bits.
inline vf exp2v(vf x) {
  x = x < -126.0f ? splat(-126.0f) : x;
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf t = x + magic;
  vf n = t - magic;
  vf f = x - n;
  vf p = splat(1.52527338040e-5f);
  p = p * f + 1.54035303934e-4f;
  p = p * f + 1.33335581464e-3f;
  p = p * f + 9.61812910763e-3f;
  p = p * f + 5.55041086648e-2f;
  p = p * f + 2.40226506959e-1f;
  p = p * f + 6.93147180560e-1f;
  p = p * f + 1.0f;
  vi ni;
  std::memcpy(&ni, &t, sizeof ni);
  ni = (ni - 0x4B400000) << 23;
  vi pi;
  std::memcpy(&pi, &p, sizeof pi);
  pi += ni;
  vf out;
  std::memcpy(&out, &pi, sizeof out);
  return out;
}

