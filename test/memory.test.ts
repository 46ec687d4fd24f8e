// 1000 repeated calls of each API keep resident memory flat (no per-call leak in the addon).
import { execFileSync } from 'child_process';
import * as path from 'path';

const script = path.join(__dirname, 'fixtures', 'leak-check.js');

// A leak of one workspace (~0.5 MB here) or of the gradients (32 KB) per call would add
// 30 MB to 500 MB over 1000 calls; allocator noise stays far below the bound.
describe.each(['headSync', 'head', 'momentum', 'enqueue', 'errors'])('%s', (api) => {
  test('resident memory stays flat over 1000 calls', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', script, api], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop() as string);
    expect(r.api).toBe(api);
    expect(r.growth).toBeLessThan(12 * 1024 * 1024);
  });
});
