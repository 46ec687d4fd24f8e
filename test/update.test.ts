// Momentum update and queue semantics against direct float64 computations.
import { momentumUpdate, Queue } from '../lib';
import { randomFloats } from './helpers/reference';

// Fresh inputs every run; the seed is in the names of the tests that use it, so a failure shows it.
const seed = (Date.now() >>> 0) ^ 0x5bd1e995;

test(`momentumUpdate: target = m * target + (1 - m) * source, in place, odd lengths (seed ${seed})`, () => {
  for (const [n, m] of [[1, 0.999], [17, 0.5], [100003, 0.99], [65537, 0], [4099, 1]] as const) {
    const t = randomFloats(n, seed + n), s = randomFloats(n, seed + n + 1);
    const t0 = Float64Array.from(t);
    momentumUpdate(t, s, m);
    let maxErr = 0;
    for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(t[i] - (m * t0[i] + (1 - m) * s[i])));
    expect(maxErr).toBeLessThan(1e-6);
    if (m === 1) expect(Array.from(t)).toEqual(Array.from(Float32Array.from(t0)));
    if (m === 0) expect(Array.from(t)).toEqual(Array.from(s));
  }
});

test('Queue starts as seeded random unit rows', () => {
  const a = new Queue(50, 7, { seed: 3 }), b = new Queue(50, 7, { seed: 3 }), c = new Queue(50, 7, { seed: 4 });
  expect(Array.from(a.data)).toEqual(Array.from(b.data));
  expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
  for (let r = 0; r < 50; r++) {
    let ss = 0;
    for (let j = 0; j < 7; j++) ss += a.data[r * 7 + j] ** 2;
    expect(Math.abs(Math.sqrt(ss) - 1)).toBeLessThan(1e-6);
  }
  // Not degenerate: the mean of the rows is near zero.
  let mean = 0;
  for (let i = 0; i < a.data.length; i++) mean += a.data[i];
  expect(Math.abs(mean / a.data.length)).toBeLessThan(0.1);
});

test(`enqueue writes at the pointer and wraps when N does not divide K (seed ${seed})`, () => {
  const K = 10, D = 3;
  const q = new Queue(K, D, { seed: 1 });
  const model = Array.from(q.data);
  let ptr = 0;
  for (const n of [4, 4, 4, 7, 1, 23]) {
    const keys = randomFloats(n * D, seed + n * 31 + ptr);
    q.enqueue({ data: keys, shape: [n, D] });
    for (let r = 0; r < n; r++) for (let j = 0; j < D; j++) model[((ptr + r) % K) * D + j] = keys[r * D + j];
    ptr = (ptr + n) % K;
    expect(q.pointer).toBe(ptr);
    expect(Array.from(q.data)).toEqual(model);
  }
});

test('enqueue with normalize stores unit rows in the same direction', () => {
  const q = new Queue(5, 4);
  const keys = Float32Array.of(3, 0, 4, 0, 0, -2, 0, 0);
  q.enqueue({ data: keys, shape: [2, 4] }, { normalize: true });
  expect(Array.from(q.data.subarray(0, 8)).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0.6, 0, 0.8, 0, 0, -1, 0, 0]);
  expect(q.pointer).toBe(2);
});
