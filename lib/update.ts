// The momentum (EMA) update of the key encoder and the queue of negative keys.
import { native } from './native';
import { Rng, randomUnitRows } from './random';
import { checkFloat32, checkHostTensor, checkInt, checkNumber, checkValues, describe, HostTensor, MAX_ELEMENTS } from './validate';

/** In place: target = m * target + (1 - m) * source over a flat parameter buffer. */
export function momentumUpdate(target: Float32Array, source: Float32Array, m: number): void {
  checkFloat32('target', target);
  checkFloat32('source', source, target.length);
  checkNumber('m', m, (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  native().momentumUpdate(target, source, m);
}

export interface QueueOptions {
  /** Seed of the random unit rows the queue starts with (default 0). */
  seed?: number;
}

export interface EnqueueOptions {
  /** L2-normalise the keys on the way in (default false: stored as given). */
  normalize?: boolean;
}

/** A [size, dim] ring buffer of negative keys, initialised with seeded random unit rows. */
export class Queue {
  readonly size: number;
  readonly dim: number;
  private buf: Float32Array;
  private ptr = 0;

  constructor(size: number, dim: number, opts: QueueOptions = {}) {
    checkInt('size', size, 1, MAX_ELEMENTS);
    checkInt('dim', dim, 1, MAX_ELEMENTS);
    if (size * dim > MAX_ELEMENTS)
      throw new RangeError(`size x dim: expected at most ${MAX_ELEMENTS} elements but got ${size} x ${dim} = ${size * dim}`);
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`opts: expected an object but got ${describe(opts)}`);
    const seed = checkInt('opts.seed', opts.seed ?? 0, 0, 2 ** 32 - 1);
    this.size = size;
    this.dim = dim;
    this.buf = randomUnitRows(size, dim, new Rng(seed));
  }

  /** The [size, dim] rows, row-major (a live view: it changes with enqueue). */
  get data(): Float32Array { return this.buf; }
  /** Row where the next key goes. */
  get pointer(): number { return this.ptr; }

  /** Writes the N keys at the pointer, wrapping around, and advances the pointer by N (mod size). */
  enqueue(keys: HostTensor, opts: EnqueueOptions = {}): void {
    const dims: Record<string, number> = { D: this.dim };
    const t = checkHostTensor('keys', keys, ['N', 'D'], dims);
    const normalize = opts.normalize ?? false;
    checkValues('keys.data', t.data, dims.N, this.dim, normalize);
    this.ptr = native().queueEnqueue(this.buf, this.size, this.dim, t.data, dims.N, normalize, this.ptr);
  }
}
