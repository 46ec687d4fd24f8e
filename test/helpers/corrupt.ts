// Damage done to files a reader is given: a file deleted, emptied, truncated, a byte flipped, bytes
// appended, a JSON field replaced. Which damage a reader must notice depends on the file: data
// files of clsa's directories carry SHA-256 manifests (any damage is an error), raw formats detect
// truncation and trailing bytes but not a flipped pixel, and JSON configs are checked for legal
// values, not for the values they had.
import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';

export type Damage =
  | { kind: 'delete' | 'empty'; file: string }
  | { kind: 'truncate' | 'flip' | 'append'; file: string; at: number; byte: number }
  | { kind: 'json'; file: string; field: string[]; value: unknown };

export function damage(files: string[], jsonFields: Record<string, string[][]> = {}): fc.Arbitrary<Damage> {
  const bytes = fc.record({ file: fc.constantFrom(...files), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) });
  const parts: fc.Arbitrary<Damage>[] = [
    fc.record({ kind: fc.constantFrom('delete' as const, 'empty' as const), file: fc.constantFrom(...files) }),
    bytes.chain((b) => fc.constantFrom('truncate' as const, 'flip' as const, 'append' as const).map((kind) => ({ kind, ...b }))),
  ];
  const json = Object.entries(jsonFields);
  if (json.length)
    parts.push(fc.constantFrom(...json).chain(([file, fields]) => fc.record({
      kind: fc.constant('json' as const), file: fc.constant(file), field: fc.constantFrom(...fields),
      value: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom(0, -1, 1e9, NaN, '', [], {}, null)),
    })));
  return fc.oneof(...parts);
}

function setField(o: Record<string, unknown>, field: string[], value: unknown): void {
  let at = o;
  for (const k of field.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[field[field.length - 1]] = value;
}

/** Applies `d` to the copy of a directory at `dir`. */
export function apply(dir: string, d: Damage): void {
  const file = path.join(dir, d.file);
  if (d.kind === 'delete') return fs.rmSync(file, { force: true });
  if (d.kind === 'empty') return fs.writeFileSync(file, '');
  const b = fs.readFileSync(file);
  if (d.kind === 'json') {
    const o = JSON.parse(b.toString('utf8'));
    setField(o, d.field, d.value);
    return fs.writeFileSync(file, JSON.stringify(o));
  }
  if (d.kind === 'truncate') return fs.writeFileSync(file, b.subarray(0, d.at % b.length));
  if (d.kind === 'append') return fs.writeFileSync(file, Buffer.concat([b, Buffer.from([d.byte])]));
  if (d.kind !== 'flip') throw new Error(`corrupt: unhandled damage ${d.kind}`);
  b[d.at % b.length] ^= d.byte;
  fs.writeFileSync(file, b);
}

/** A fresh copy of `pristine` for one case. */
export function copyOf(pristine: string, to: string): string {
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(pristine, to, { recursive: true });
  return to;
}
