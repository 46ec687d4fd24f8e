// Argument validation shared by the public API. Every message names the argument, what was
// expected and what was received ("weak.shape: expected [W, N, D] ... but got [2, 3]").
import { native, NativeTensor } from './native';

export type HostTensor = { data: Float32Array; shape: number[] };

/** Largest element count of one tensor: kernels may index with 32-bit integers. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${Object.prototype.toString.call(v).slice(8, -1)} of length ${(v as unknown as ArrayLike<number>).length}`;
  if (typeof v === 'number') return `${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `a ${typeof v}`;
}

export function isFloat32Array(v: unknown): v is Float32Array {
  // Tag check rather than instanceof: arrays from another realm (jest, workers) are fine too.
  return Object.prototype.toString.call(v) === '[object Float32Array]';
}

export function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name}: expected an integer in [${min}, ${max}] but got ${describe(v)}`);
  return v;
}

export function checkNumber(name: string, v: unknown, test: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !test(v))
    throw new RangeError(`${name}: expected ${expected} but got ${describe(v)}`);
  return v;
}

export function checkBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${name}: expected a boolean but got ${describe(v)}`);
  return v;
}

export function checkEnum<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T))
    throw new RangeError(`${name}: expected one of ${allowed.map((a) => `'${a}'`).join(', ')} but got ${describe(v)}`);
  return v as T;
}

export function checkFloat32(name: string, v: unknown, length?: number): Float32Array {
  if (!isFloat32Array(v)) throw new TypeError(`${name}: expected a Float32Array but got ${describe(v)}`);
  if (length !== undefined && v.length !== length)
    throw new RangeError(`${name}: expected a Float32Array of length ${length} but got length ${v.length}`);
  return v;
}

/**
 * Checks a shape against a pattern of named dimensions (e.g. ['W', 'N', 'D']); fills `dims`
 * with the values seen and insists that a name already bound has the same value.
 */
export function checkShape(name: string, shape: unknown, pattern: string[], dims: Record<string, number>,
                           minimum: Record<string, number> = {}): number[] {
  const want = `[${pattern.join(', ')}]`;
  if (!Array.isArray(shape) || shape.length !== pattern.length)
    throw new RangeError(`${name}.shape: expected ${want} (${pattern.length} dimensions) but got ${Array.isArray(shape) ? `[${shape.join(', ')}]` : describe(shape)}`);
  shape.forEach((v, i) => {
    const dim = pattern[i];
    const lo = minimum[dim] ?? 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > MAX_ELEMENTS)
      throw new RangeError(`${name}.shape[${i}] (${dim}): expected an integer in [${lo}, ${MAX_ELEMENTS}] but got ${describe(v)}`);
    if (dims[dim] !== undefined && dims[dim] !== v)
      throw new RangeError(`${name}.shape[${i}] (${dim}): expected ${dim} = ${dims[dim]} (as set by an earlier tensor) but got ${v}`);
    dims[dim] = v;
  });
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS)
    throw new RangeError(`${name}.shape: ${want} = [${shape.join(', ')}] has ${count} elements, more than the ${MAX_ELEMENTS} one tensor may hold (32-bit indexing)`);
  return shape as number[];
}

/** A host tensor { data, shape }: shape checked against `pattern`, data length against the shape. */
export function checkHostTensor(name: string, t: unknown, pattern: string[], dims: Record<string, number>,
                                minimum: Record<string, number> = {}): HostTensor {
  if (typeof t !== 'object' || t === null)
    throw new TypeError(`${name}: expected a tensor { data: Float32Array, shape: [${pattern.join(', ')}] } but got ${describe(t)}`);
  const { data, shape } = t as { data: unknown; shape: unknown };
  const s = checkShape(name, shape, pattern, dims, minimum);
  const count = s.reduce((a, b) => a * b, 1);
  checkFloat32(`${name}.data`, data);
  if ((data as Float32Array).length !== count)
    throw new RangeError(`${name}.data: expected ${count} floats for shape [${s.join(', ')}] but got ${(data as Float32Array).length}`);
  return t as HostTensor;
}

/** Rejects NaN/Inf anywhere and, with `nonZeroRows`, rows of zero norm. Runs natively. */
export function checkValues(name: string, data: NativeTensor, rows: number, cols: number, nonZeroRows: boolean): void {
  if (rows === 0) return;
  const r = native().scanRows(data, rows, cols);
  if (r.nonFinite >= 0) {
    const row = Math.floor(r.nonFinite / cols), col = r.nonFinite % cols;
    throw new RangeError(`${name}: expected finite values but element ${r.nonFinite} (row ${row}, column ${col}) is ${
      isFloat32Array(data) ? data[r.nonFinite] : 'NaN or infinite'}`);
  }
  if (nonZeroRows && r.zeroRow >= 0)
    throw new RangeError(`${name}: expected rows of non-zero norm (normalize: true divides by the norm) but row ${r.zeroRow} is all zeros`);
}

/** An options argument: undefined or null (absent) give {}; anything but a plain object is refused. */
export function checkOptions<T extends object>(name: string, v: T | null | undefined): T {
  if (v === undefined || v === null) return {} as T;
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${name}: expected an object but got ${describe(v)}`);
  return v;
}

/** An AbortSignal (or undefined): anything else would be polled as if it were one. */
export function checkSignal(name: string, v: unknown): AbortSignal | undefined {
  if (v === undefined || v === null) return undefined;
  const s = v as { aborted?: unknown; addEventListener?: unknown; throwIfAborted?: unknown };
  if (typeof v !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')
    throw new TypeError(`${name}: expected an AbortSignal but got ${describe(v)}`);
  return v as AbortSignal;
}
