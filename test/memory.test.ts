// 1000 repeated calls of each API keep resident memory flat (no per-call leak in the addon).
import { execFileSync } from 'child_process';
import * as path from 'path';

const script = path.join(__dirname, 'fixtures', 'leak-check.js');

// Five blocks of 1000 calls after a warm-up of 1000. A leak of 2 KB per call grows every block
// by 2 MB and fails the median bound; a leaked workspace (~0.5 MB) or gradient pair (32 KB)
// would add hundreds of MB. The allocator's one-time high-water jumps (seen here: ~20 MB once,
// then flat for thousands of calls) touch one block, not the median.
describe.each(['headSync', 'head', 'momentum', 'enqueue', 'errors'])('%s', (api) => {
  test('resident memory stays flat over 6000 calls', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', script, api, '1000'], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop() as string);
    expect(r.api).toBe(api);
    expect(r.deltas).toHaveLength(5);
    expect(r.median).toBeLessThan(2 * 1024 * 1024);
    expect(r.total).toBeLessThan(48 * 1024 * 1024);
  });
});
