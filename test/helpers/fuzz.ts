// The property every fuzzed call must have: given one bad argument, it fails, soon, with a typed
// error (TypeError, RangeError or one of the library's classes) whose message names the argument,
// and not with an engine message ("Cannot read properties of ...") or a result.
import fc from 'fast-check';
import { AbortError, FormatError, NoTestSplitError } from '../../lib';
import { suiteSeed } from './seed';

export const SEED = suiteSeed();
export const TYPED = [TypeError, RangeError, FormatError, NoTestSplitError, AbortError];
/** A call that takes longer than this has hung (every fuzzed input is small). */
export const CASE_MS = 5000;

const ENGINE = /Cannot read propert|is not a function|is not iterable|Cannot convert|Invalid array length|\[object Object\]|Maximum call stack|Cannot destructure|undefined \(reading/;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when `message` names `name` as an argument: followed by '.', ':', '[', ' ' or '('. */
export function namesArgument(message: string, name: string): boolean {
  return new RegExp(`${escape(name)}(?=[.:\\[ (),/]|$)`).test(message);
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Runs `call`; resolves with the error it threw or rejected with, or fails the case. */
export async function expectNamedError(call: () => unknown, names: string[], what: string): Promise<Error> {
  let result: unknown;
  try {
    result = await withTimeout(Promise.resolve().then(call), CASE_MS, what);
  } catch (err) {
    return judgeError(err, names, what);
  }
  throw new Error(`${what}: expected an error but the call succeeded (${describeResult(result)})`);
}

/** Fails the case unless `err` is a typed error whose message names one of `names`. */
export function judgeError(err: unknown, names: string[], what: string): Error {
  const e = err as Error;
  if (!TYPED.some((c) => e instanceof c))
    throw new Error(`${what}: expected a TypeError, RangeError or clsa error but got ${e?.constructor?.name}: ${e?.message}\n${e?.stack}`);
  if (ENGINE.test(e.message)) throw new Error(`${what}: an engine message, not one naming the argument: ${e.message}`);
  if (!names.some((n) => namesArgument(e.message, n)))
    throw new Error(`${what}: the message does not name ${names.join(' or ')}: ${e.message}`);
  return e;
}

function describeResult(r: unknown): string {
  try {
    return JSON.stringify(r, (_k, v) => (ArrayBuffer.isView(v) ? `<${v.constructor.name}>` : v))?.slice(0, 200) ?? String(r);
  } catch {
    return String(r);
  }
}

/** A string for fast-check's counterexample report that survives symbols, bigints and functions. */
export function show(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'bigint' || typeof v === 'function' || v instanceof Mutate) return String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})`;
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : ArrayBuffer.isView(x) ? `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length})` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

export type Path = (string | number)[];

/** One argument (or field of one) to spoil: where it is, what to put there, and the names an error may use for it. */
export interface Slot { path: Path; bad: fc.Arbitrary<unknown>; names: string[] }

export function slot(name: string, path: Path, bad: fc.Arbitrary<unknown>, also: string[] = []): Slot {
  return { path, bad, names: [name, ...also] };
}

/** An optional argument or option: null is not among its bad values, since an absent option may
 * be given as undefined or null alike. */
export function opt(name: string, path: Path, bad: fc.Arbitrary<unknown>, also: string[] = []): Slot {
  return slot(name, path, bad.filter((v) => v !== null), also);
}

/** A public call: fresh good arguments for every case, and the slots to spoil one at a time. */
export interface Target {
  name: string;
  good: () => unknown[] | Promise<unknown[]>;
  call: (...args: unknown[]) => unknown;
  slots: Slot[];
  /** Runs after every case (e.g. a check that nothing on disk changed). */
  after?: () => void | Promise<void>;
}

/** A value computed from the good one it replaces (a NaN put into good data, say). */
export class Mutate {
  constructor(readonly label: string, readonly apply: (old: unknown) => unknown) {}
  toJSON(): string { return this.label; }
  toString(): string { return this.label; }
}

function setPath(root: unknown[], path: Path, value: unknown): void {
  let o = root as unknown as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const key = path[path.length - 1];
  o[key] = value instanceof Mutate ? value.apply(o[key]) : value;
}

/** A per-target seed: the suite seed mixed with the target's name, so targets do not share draws. */
export function targetSeed(name: string): number {
  let h = SEED >>> 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0);
  return h & 0x7fffffff;
}

/** Fuzzes `t` with `runs` cases. */
export async function fuzzTarget(t: Target, runs: number): Promise<void> {
  const cases = fc.integer({ min: 0, max: t.slots.length - 1 }).chain((i) => t.slots[i].bad.map((v) => ({ slot: i, value: v })));
  await fc.assert(fc.asyncProperty(cases, async ({ slot: i, value }) => {
    const s = t.slots[i];
    const args = await t.good();
    setPath(args, s.path, value);
    await expectNamedError(() => t.call(...args), s.names, `${t.name} with ${s.names[0]} = ${show(value)}`);
    await t.after?.();
  // A target with state to check afterwards is not shrunk: the shrinking would replay cases on
  // the state the failing case left, and report a case that only fails because of it.
  }), { seed: targetSeed(t.name), numRuns: runs, endOnFailure: t.after !== undefined });
}
