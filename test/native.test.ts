// Builds the native tests (test/native/*.cpp) against libclsa with AddressSanitizer and
// UBSan and runs them through ctest. CPU-only: the sanitizers check the host code paths.
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const build = path.join(root, 'build-asan');

test('native tests pass under AddressSanitizer + UBSan', () => {
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' } });
  run('cmake', ['-S', '.', '-B', build, '-DCLSA_CUDA=OFF', '-DCLSA_BUILD_TESTS=ON', '-DCLSA_SANITIZE=ON', '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
  run('cmake', ['--build', build, '-j', '2']);
  let out = '';
  try {
    out = run('ctest', ['--test-dir', build, '--output-on-failure']);
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`ctest failed:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
  expect(out).toMatch(/100% tests passed/);
}, 600000);
