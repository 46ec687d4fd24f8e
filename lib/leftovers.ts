// What atomic writes leave beside their target, and what a crash leaves of it. A write of TARGET
// uses siblings named .TARGET.KIND-PID-TIME-RAND:
//   tmp    the file or directory being filled (never trusted: a crash may leave it half written)
//   old    the previous directory, moved aside for the instant of the swap (always complete)
//   trash  the previous directory being removed (never trusted: its removal may be half done)
// The only crash that leaves TARGET missing is one between moving the old directory aside and
// renaming the new one in; its `old` sibling is then the complete previous state, which readers
// use (readableDir) and the next writer puts back (recoverDir). Leftovers of writers that are no
// longer running are removed by the next write of the same target.
import * as fs from 'fs';
import * as path from 'path';

export type LeftoverKind = 'tmp' | 'old' | 'trash';

export interface Leftover { path: string; kind: LeftoverKind; pid: number; time: number }

const PATTERN = /^(tmp|old|trash)-(\d+)-([0-9a-z]+)-[0-9a-z]+(\.old)?$/;

export function leftoverName(target: string, kind: LeftoverKind): string {
  const dir = path.dirname(target), base = path.basename(target);
  return path.join(dir, `.${base}.${kind}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
}

/** The leftovers of writes of `target`, oldest first. Earlier versions named the moved-aside
 * directory .TARGET.tmp-...-....old; it counts as 'old'. */
export function listLeftovers(target: string): Leftover[] {
  const dir = path.dirname(target), prefix = `.${path.basename(target)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: Leftover[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = PATTERN.exec(name.slice(prefix.length));
    if (!m) continue;
    const kind = (m[4] ? 'old' : m[1]) as LeftoverKind;
    out.push({ path: path.join(dir, name), kind, pid: Number(m[2]), time: parseInt(m[3], 36) });
  }
  return out.sort((a, b) => a.time - b.time || (a.path < b.path ? -1 : 1));
}

/** True when no process `pid` runs here any more (a reused pid counts as running: the safe side). */
export function writerGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** `dir`, or where its complete previous state is when a crash interrupted a swap. */
export function readableDir(dir: string): string {
  if (fs.existsSync(dir)) return dir;
  const olds = listLeftovers(path.resolve(dir)).filter((l) => l.kind === 'old');
  return olds.length > 0 ? olds[olds.length - 1].path : dir;
}

/**
 * Before a write of `target`: puts back the previous directory an interrupted swap moved aside
 * (ours, or a writer's that is gone), then removes every leftover of writers that are gone.
 * `remove` deletes a tree (the caller's, so that its steps can be crash points too).
 */
export function recoverLeftovers(target: string, remove: (p: string) => void): void {
  let all = listLeftovers(target);
  if (!fs.existsSync(target)) {
    const olds = all.filter((l) => l.kind === 'old' && (l.pid === process.pid || writerGone(l.pid)));
    const back = olds[olds.length - 1];
    if (back) {
      fs.renameSync(back.path, target);
      all = all.filter((l) => l !== back);
    }
  }
  for (const l of all) {
    if (!writerGone(l.pid)) continue;
    // An 'old' is renamed to trash before removal, so that no half-removed tree keeps the name
    // that marks a complete one.
    const doomed = l.kind === 'old' ? leftoverName(target, 'trash') : l.path;
    try {
      if (doomed !== l.path) fs.renameSync(l.path, doomed);
      remove(doomed);
    } catch {
      /* removed meanwhile by another writer, or not ours to remove: harmless either way */
    }
  }
}
