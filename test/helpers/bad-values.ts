// Generators of values an argument must refuse, by what the argument expects. None of them is
// `undefined`: an absent option takes its default, which is not an error.
import fc from 'fast-check';

const MAX_ELEMENTS = 2 ** 31 - 1;

/** Values of the wrong type for anything that expects a number. */
export const notNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant({}), fc.bigInt({ min: -5n, max: 5n }), fc.constant(Symbol('bad')), fc.constant(() => 1),
  fc.constant(new Float32Array(2)), fc.constant('1'),
);

const nonFinite = fc.constantFrom(NaN, Infinity, -Infinity);

/** Anything but an integer in [lo, hi]. */
export function int(lo: number, hi = Number.MAX_SAFE_INTEGER): fc.Arbitrary<unknown> {
  const parts: fc.Arbitrary<unknown>[] = [notNumber, nonFinite,
    fc.double({ min: lo - 10, max: Math.min(hi, lo + 1e6), noNaN: true }).filter((x) => !Number.isInteger(x))];
  if (lo > Number.MIN_SAFE_INTEGER) parts.push(fc.integer({ min: Math.max(lo - 1000, -(2 ** 31)), max: lo - 1 }), fc.constant(lo - 1));
  if (hi < Number.MAX_SAFE_INTEGER) parts.push(fc.double({ min: hi + 1, max: hi * 4 + 1e12, noNaN: true }).map(Math.floor), fc.constant(hi + 1));
  return fc.oneof(...parts);
}

/** Anything but a finite number passing `ok`; `edges` are near misses worth trying every time. */
export function num(ok: (x: number) => boolean, edges: number[] = []): fc.Arbitrary<unknown> {
  return fc.oneof(notNumber, nonFinite, fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !ok(x)),
    ...(edges.length ? [fc.constantFrom(...edges.filter((e) => !ok(e)))] : []));
}

/** Anything but one of `allowed`. */
export function oneOf(allowed: readonly unknown[]): fc.Arbitrary<unknown> {
  return fc.oneof(fc.string({ maxLength: 8 }).filter((s) => !allowed.includes(s)), fc.integer(), fc.boolean(), fc.constant(null),
    fc.constant({}), fc.constantFrom(...allowed.filter((a) => typeof a === 'string').map((a) => (a as string).toUpperCase() + ' ')));
}

export const notBool: fc.Arbitrary<unknown> = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null), fc.constant({}), fc.constantFrom(0, 1, 'true'));

export const notFunction: fc.Arbitrary<unknown> = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null), fc.constant({}), fc.constant([]));

/** Option bags that are not objects (arrays count as objects, so they are not here). */
export const notObject: fc.Arbitrary<unknown> = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null), fc.boolean(), fc.constant(() => 0));

/** Anything but a non-empty string path. */
export const notPath: fc.Arbitrary<unknown> = fc.oneof(fc.integer(), fc.constant(null), fc.constant(''), fc.constant({}), fc.constant([]), fc.boolean());

/** Typed arrays (and arrays) of the wrong kind for a tensor whose data must be `want`. */
export function wrongArray(want: 'Float32Array' | 'Uint8Array' | 'Int32Array', length: number): fc.Arbitrary<unknown> {
  const n = Math.max(length, 0);
  const all: [string, () => unknown][] = [
    ['Float32Array', () => new Float32Array(n)], ['Float64Array', () => new Float64Array(n)], ['Uint8Array', () => new Uint8Array(n)],
    ['Int32Array', () => new Int32Array(n)], ['Uint8ClampedArray', () => new Uint8ClampedArray(n)], ['Array', () => new Array(n).fill(0)],
    ['Buffer', () => Buffer.alloc(n)],
  ];
  const wrong = all.filter(([k]) => k !== want && !(want === 'Uint8Array' && k === 'Buffer'));
  return fc.oneof(fc.constantFrom(...wrong.map(([, f]) => f)).map((f) => f()), fc.constant(null), fc.constant('data'), fc.integer());
}

/**
 * Shapes that do not fit `shape`: another rank, a dimension out of range (0, negative, fractional,
 * NaN, a string, over 2^31), or so many elements that no tensor may hold them.
 */
export function wrongShape(shape: number[], minimum: number[] = shape.map(() => 1)): fc.Arbitrary<unknown> {
  const at = fc.integer({ min: 0, max: shape.length - 1 });
  const badDim = (i: number) => fc.oneof(fc.integer({ min: -3, max: minimum[i] - 1 }), fc.constantFrom(0.5, NaN, Infinity, '2', null, MAX_ELEMENTS + 1));
  return fc.oneof(
    fc.constant(shape.slice(0, -1)), fc.constant([...shape, 2]), fc.constant([]),
    at.chain((i) => badDim(i).map((d) => shape.map((s, j) => (j === i ? d : s)))),
    at.map((i) => shape.map((s, j) => (j === i ? MAX_ELEMENTS : s))),
    notObject, fc.constant({ length: shape.length }),
  );
}
