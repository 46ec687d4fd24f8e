// Tests that run clsa in a child process use the compiled dist/ (a child cannot load the
// TypeScript sources); it is rebuilt here when older than any lib/ source.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DIST = path.join(ROOT, 'dist');

export function ensureDist(): void {
  const lib = path.join(ROOT, 'lib');
  const src = fs.readdirSync(lib, { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(lib, f)).mtimeMs));
  const index = path.join(DIST, 'index.js');
  if (!fs.existsSync(index) || fs.statSync(index).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT });
}
