// 1000 repeated calls of each API keep resident memory flat (no per-call leak in the addon).
import { execFileSync } from 'child_process';
import * as path from 'path';

const script = path.join(__dirname, 'fixtures', 'leak-check.js');

// Five blocks of 1000 calls after a warm-up of 1000 calls.
// - Memory the JavaScript side sees (heap, typed-array stores, externals) must not grow: a
//   result, buffer or reference kept per call (>= 200 bytes) fails this.
// - Resident memory: a native leak of a workspace (~0.5 MB here) or of 32 KB per call adds 160 MB
//   or more; the bound leaves room for glibc's per-thread arenas and V8's heap reservations,
//   which grow in steps of several MB (seen here: +18 MB in one block, then flat) and do not
//   return to the OS. Native leaks of any size are caught by the LeakSanitizer run of the
//   native tests (native.test.ts).
describe.each(['headSync', 'head', 'momentum', 'enqueue', 'errors'])('%s', (api) => {
  test('memory stays flat over 6000 calls', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', script, api, '1000'], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop() as string);
    expect(r.api).toBe(api);
    expect(r.deltas).toHaveLength(5);
    expect(r.jsGrowth).toBeLessThan(1024 * 1024);
    expect(r.total).toBeLessThan(64 * 1024 * 1024);
  });
});
