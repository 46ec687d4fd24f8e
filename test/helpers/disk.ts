// "Nothing the user had on disk is changed": the size and SHA-256 of every file and folder under
// a directory, compared before and after calls that must fail; a difference names the paths.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export function treeDigests(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name), rel = path.relative(root, p);
      if (e.isDirectory()) {
        out.set(rel + '/', 'dir');
        walk(p);
      } else {
        out.set(rel, crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
      }
    }
  };
  walk(root);
  return out;
}

/** Remembers what is under `root` now; `check()` throws, naming the paths, if it differs later. */
export function guard(root: string): { check: () => void } {
  const before = treeDigests(root);
  return {
    check: () => {
      const after = treeDigests(root);
      const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
      if (changed.length > 0) throw new Error(`${root}: a failing call changed what was on disk: ${changed.sort().join(', ')}`);
    },
  };
}
