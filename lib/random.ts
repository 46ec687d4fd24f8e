// Seeded random numbers for reproducible initialisation (queue rows, tests).
import { describe } from './validate';

/** xoshiro128** seeded through splitmix32: fast, 32-bit, reproducible across platforms. */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | undefined;

  constructor(seed: number) {
    // Any safe integer (negative ones and those past 2^32 wrap, as the native streams do); a
    // string or NaN would all silently become seed 0.
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed))
      throw new (typeof seed === 'number' ? RangeError : TypeError)(`seed: expected an integer but got ${describe(seed)}`);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, 1). */
  uniform(): number { return this.nextU32() / 4294967296; }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) { const v = this.spare; this.spare = undefined; return v; }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }

/** `rows` random unit vectors of dimension `dim`, row-major. */
export function randomUnitRows(rows: number, dim: number, rng: Rng): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) { const v = rng.normal(); out[r * dim + j] = v; ss += v * v; }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < dim; j++) out[r * dim + j] *= inv;
  }
  return out;
}
