// xoshiro128** seeded through splitmix32 — the same generator as lib/random.ts, so its state
// (four 32-bit words) is exported in checkpoints and restored bit-exactly.
#pragma once
#include <cmath>
#include <cstdint>

namespace clsa::model {

class Rng {
 public:
  Rng(uint32_t seed, uint32_t stream = 0) {
    uint32_t x = seed ^ (stream * 0x85ebca6bu);
    for (int i = 0; i < 4; ++i) {
      x += 0x9e3779b9u;
      uint32_t z = x;
      z = (z ^ (z >> 16)) * 0x85ebca6bu;
      z = (z ^ (z >> 13)) * 0xc2b2ae35u;
      s[i] = z ^ (z >> 16);
    }
  }
  uint32_t next() {
    const uint32_t r = rotl(s[1] * 5u, 7) * 9u;
    const uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  double uniform() { return next() / 4294967296.0; }  // [0, 1)
  double normal() {
    double u = 0;
    while (u == 0) u = uniform();
    const double v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
  uint32_t below(uint32_t n) { return uint32_t((uint64_t(next()) * n) >> 32); }
  uint32_t s[4];

 private:
  static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
};

}  // namespace clsa::model
