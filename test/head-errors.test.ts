// Bad input: every case gets an error naming the argument, what was expected and what came.
import { clsaHead, clsaHeadSync, momentumUpdate, Queue } from '../lib';
import { randomFloats } from './helpers/reference';

const N = 4, D = 6, K = 10, W = 2, S = 1;
function good() {
  return {
    weak: { data: randomFloats(W * N * D, 11), shape: [W, N, D] },
    strong: { data: randomFloats(S * N * D, 12), shape: [S, N, D] },
    keys: { data: randomFloats(N * D, 13), shape: [N, D] },
    queue: { data: randomFloats(K * D, 14), shape: [K, D] },
  };
}
type Inputs = ReturnType<typeof good>;

function expectError(mutate: (x: Inputs) => unknown, pattern: RegExp, options?: object) {
  const x = good();
  const y = (mutate(x) ?? x) as Inputs;
  expect(() => clsaHeadSync(y, options as never)).toThrow(pattern);
}

describe('clsaHeadSync rejects bad input with a clear message', () => {
  test('the sanity case works', () => {
    expect(Number.isFinite(clsaHeadSync(good()).loss)).toBe(true);
  });
  test('inputs not an object', () => {
    expect(() => clsaHeadSync(null as never)).toThrow(/clsaHeadSync\(inputs\): expected \{ weak, strong, keys, queue \} but got null/);
  });
  test('missing tensor', () => expectError((x) => ({ ...x, keys: undefined }), /keys: expected a tensor .* but got undefined/));
  test('mismatched N between weak and keys', () =>
    expectError((x) => { x.keys = { data: randomFloats((N + 1) * D, 1), shape: [N + 1, D] }; }, /keys\.shape\[0\] \(N\): expected N = 4 .* but got 5/));
  test('mismatched D between keys and queue', () =>
    expectError((x) => { x.queue = { data: randomFloats(K * (D + 1), 1), shape: [K, D + 1] }; }, /queue\.shape\[1\] \(D\): expected D = 6 .* but got 7/));
  test('wrong rank', () => expectError((x) => { x.weak.shape = [W * N, D]; }, /weak\.shape: expected \[W, N, D\] \(3 dimensions\) but got \[8, 6\]/));
  test('wrong data length', () =>
    expectError((x) => { x.weak.data = new Float32Array(W * N * D - 1); }, /weak\.data: expected 48 floats for shape \[2, 4, 6\] but got 47/));
  test('non-Float32Array data', () =>
    expectError((x) => { (x.keys as { data: unknown }).data = new Float64Array(N * D); }, /keys\.data: expected a Float32Array but got a Float64Array of length 24/));
  test('plain array data', () =>
    expectError((x) => { (x.queue as { data: unknown }).data = Array.from(x.queue.data); }, /queue\.data: expected a Float32Array but got an array of length 60/));
  test('non-integer shape', () => expectError((x) => { x.keys.shape = [4.5, D]; }, /keys\.shape\[0\] \(N\): expected an integer in \[1, 2147483647\] but got 4\.5/));
  test('NaN in weak', () => expectError((x) => { x.weak.data[13] = NaN; }, /weak\.data: expected finite values but element 13 \(row 2, column 1\) is NaN/));
  test('Infinity in strong', () => expectError((x) => { x.strong.data[2] = Infinity; }, /strong\.data: expected finite values but element 2 .* is Infinity/));
  test('-Infinity in keys', () => expectError((x) => { x.keys.data[5] = -Infinity; }, /keys\.data: expected finite values but element 5 .* is -Infinity/));
  test('NaN in queue', () => expectError((x) => { x.queue.data[59] = NaN; }, /queue\.data: expected finite values but element 59 \(row 9, column 5\)/));
  test('zero-norm row with normalize', () =>
    expectError((x) => { x.keys.data.fill(0, 2 * D, 3 * D); }, /keys\.data: expected rows of non-zero norm .* row 2 is all zeros/));
  test('zero-norm row is fine without normalize', () => {
    const x = good();
    x.weak.data.fill(0, 0, D);
    expect(Number.isFinite(clsaHeadSync(x, { normalize: false }).loss)).toBe(true);
  });
  test('temperature <= 0', () => expectError(() => undefined, /options\.temperature: expected a finite number > 0 but got 0/, { temperature: 0 }));
  test('negative ddmTemperature', () => expectError(() => undefined, /options\.ddmTemperature: expected a finite number > 0 but got -0\.1/, { ddmTemperature: -0.1 }));
  test('NaN temperature', () => expectError(() => undefined, /options\.temperature: expected a finite number > 0 but got NaN/, { temperature: NaN }));
  test('negative ddmWeight', () => expectError(() => undefined, /options\.ddmWeight: expected a finite number >= 0 but got -1/, { ddmWeight: -1 }));
  test('normalize not boolean', () => expectError(() => undefined, /options\.normalize: expected a boolean but got the string "yes"/, { normalize: 'yes' }));
  test('unknown precision', () => expectError(() => undefined, /options\.precision: expected one of 'fp32', 'tf32', 'bf16', 'fp16' but got the string "fp8"/, { precision: 'fp8' }));
  test('unknown device', () => expectError(() => undefined, /options\.device: expected one of 'auto', 'cpu', 'cuda' but got the string "tpu"/, { device: 'tpu' }));
  test('K < 1', () => expectError((x) => { x.queue = { data: new Float32Array(0), shape: [0, D] }; }, /queue\.shape\[0\] \(K\): expected an integer in \[1, 2147483647\] but got 0/));
  test('huge sizes that would overflow 32-bit indexing', () =>
    expectError((x) => { x.weak = { data: new Float32Array(8), shape: [5, 70000, 70000] }; },
      /weak\.shape: \[W, N, D\] = \[5, 70000, 70000\] has 24500000000 elements, more than the 2147483647 one tensor may hold \(32-bit indexing\)/));
  test('async rejects the same way', async () => {
    const x = good();
    x.weak.data[0] = NaN;
    await expect(clsaHead(x)).rejects.toThrow(/weak\.data: expected finite values/);
  });
});

describe('momentumUpdate and Queue reject bad input', () => {
  test('m outside [0, 1]', () => {
    expect(() => momentumUpdate(new Float32Array(3), new Float32Array(3), 1.5)).toThrow(/m: expected a number in \[0, 1\] but got 1\.5/);
    expect(() => momentumUpdate(new Float32Array(3), new Float32Array(3), -0.01)).toThrow(/m: expected a number in \[0, 1\] but got -0\.01/);
    expect(() => momentumUpdate(new Float32Array(3), new Float32Array(3), NaN)).toThrow(/m: expected a number in \[0, 1\] but got NaN/);
  });
  test('length mismatch and wrong types', () => {
    expect(() => momentumUpdate(new Float32Array(3), new Float32Array(4), 0.9)).toThrow(/source: expected a Float32Array of length 3 but got length 4/);
    expect(() => momentumUpdate([1, 2] as never, new Float32Array(2), 0.9)).toThrow(/target: expected a Float32Array but got an array of length 2/);
  });
  test('queue size/dim', () => {
    expect(() => new Queue(0, 4)).toThrow(/size: expected an integer in \[1, 2147483647\] but got 0/);
    expect(() => new Queue(4, 2.5)).toThrow(/dim: expected an integer in \[1, 2147483647\] but got 2\.5/);
    expect(() => new Queue(70000, 70000)).toThrow(/size x dim: expected at most 2147483647 elements but got 70000 x 70000/);
    expect(() => new Queue(4, 4, { seed: -1 })).toThrow(/opts\.seed: expected an integer in \[0, 4294967295\] but got -1/);
  });
  test('enqueue with the wrong dimension, NaN, or zero rows to normalise', () => {
    const q = new Queue(8, 3);
    expect(() => q.enqueue({ data: new Float32Array(8), shape: [2, 4] })).toThrow(/keys\.shape\[1\] \(D\): expected D = 3 .* but got 4/);
    expect(() => q.enqueue({ data: Float32Array.of(1, 2, NaN), shape: [1, 3] })).toThrow(/keys\.data: expected finite values but element 2/);
    const before = Float32Array.from(q.data);
    expect(() => q.enqueue({ data: Float32Array.of(1, 0, 0, 0, 0, 0), shape: [2, 3] }, { normalize: true })).toThrow(/row 1 is all zeros/);
    expect(Array.from(q.data)).toEqual(Array.from(before));
    expect(q.pointer).toBe(0);
  });
});
