// Slots that spoil a tensor argument { data, shape } in every way the fuzz suites try: the whole
// value, its shape, its data's type and length, non-finite values, a dimension that disagrees
// with the other tensors, and (for rows that get L2-normalised) a row of zeros.
import fc from 'fast-check';
import { notObject, wrongArray, wrongShape } from './bad-values';
import { Mutate, Path, Slot, slot } from './fuzz';


const nonFinite = fc.constantFrom(NaN, Infinity, -Infinity);

type Kind = 'Float32Array' | 'Uint8Array' | 'Int32Array';

export interface TensorSpec {
  /** The argument's name in messages ('weak', 'views.key', 'train.features' ...). */
  name: string;
  path: Path;
  shape: number[];
  kind?: Kind;
  /** Smallest legal value of each dimension (default 1). */
  minimum?: number[];
  /** The call rejects NaN and infinities in the data. */
  finite?: boolean;
  /** The call rejects all-zero rows of the last dimension (it divides by their norm). */
  nonZeroRows?: boolean;
  /** Dimensions shared with other tensors, and the names an error about a disagreement may use. */
  shared?: { dim: number; names: string[] }[];
  /** Other names an error may use for this tensor (e.g. its parent's). */
  also?: string[];
}

function typedCopy(old: unknown): Float32Array | Uint8Array | Int32Array {
  const o = old as Float32Array;
  return o.slice();
}

export function tensorSlots(t: TensorSpec): Slot[] {
  const kind = t.kind ?? 'Float32Array';
  const count = t.shape.reduce((a, b) => a * b, 1);
  const names = [t.name, ...(t.also ?? [])];
  const at = (p: string) => [...t.path, p];
  const slots: Slot[] = [
    slot(t.name, t.path, fc.oneof(notObject, fc.constant([]), fc.constant({ data: null })), names.slice(1)),
    slot(`${t.name}.shape`, at('shape'), wrongShape(t.shape, t.minimum), names),
    slot(`${t.name}.data`, at('data'), wrongArray(kind, count), names),
    slot(`${t.name}.data`, at('data'), fc.integer({ min: 1, max: 3 }).chain((k) => fc.constantFrom(
      new Mutate(`data ${k} shorter`, (o) => (o as Float32Array).slice(0, Math.max(0, (o as Float32Array).length - k))),
      new Mutate(`data ${k} longer`, (o) => { const c = new ((o as Float32Array).constructor as Float32ArrayConstructor)((o as Float32Array).length + k); c.set(o as Float32Array); return c; }),
    )), names),
  ];
  if (t.finite) {
    slots.push(slot(`${t.name}.data`, at('data'), fc.tuple(fc.nat(), nonFinite).map(([i, v]) => new Mutate(`data[${i % count}] = ${v}`, (o) => {
      const c = typedCopy(o) as Float32Array;
      c[i % c.length] = v;
      return c;
    })), names));
  }
  if (t.nonZeroRows) {
    const cols = t.shape[t.shape.length - 1], rows = count / cols;
    slots.push(slot(`${t.name}.data`, at('data'), fc.nat().map((r) => new Mutate(`row ${r % rows} all zeros`, (o) => {
      const c = typedCopy(o);
      c.fill(0, (r % rows) * cols, (r % rows + 1) * cols);
      return c;
    })), names));
  }
  for (const s of t.shared ?? []) {
    // The tensor grows along a shared dimension (data to match), so only the disagreement is wrong.
    slots.push(slot(`${t.name}.shape`, t.path, fc.constant(new Mutate(`${t.name}.shape[${s.dim}] + 1`, (o) => {
      const old = o as { data: Float32Array; shape: number[] };
      const shape = old.shape.map((d, i) => (i === s.dim ? d + 1 : d));
      const data = new (old.data.constructor as new (n: number) => Float32Array)(shape.reduce((a, b) => a * b, 1)).fill(0.5);
      return { ...old, shape, data };
    })), [...names, ...s.names]));
  }
  return slots;
}
