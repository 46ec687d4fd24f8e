// Builds and runs the native layer checks (test/native/nn_gradcheck.cpp): GEMM variants,
// convolution, split batch norm, linear, GAP, the projection MLP and the whole encoder, each
// against float64 references and finite differences. A separate CMake build dir (CPU only)
// so the addon build is untouched; incremental after the first run.
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'build', 'native-tests');

test('native layer gradient checks pass', () => {
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  run('cmake', ['-S', root, '-B', dir, '-DCLSA_BUILD_TESTS=ON', '-DCLSA_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']);
  run('cmake', ['--build', dir, '--target', 'nn_gradcheck', '-j', '2']);
  let out: string;
  try {
    out = run(path.join(dir, 'nn_gradcheck'), []);
  } catch (e) {
    const err = e as { stdout?: string };
    throw new Error(`nn_gradcheck failed:\n${(err.stdout ?? '').split('\n').filter((l) => l.startsWith('FAIL')).join('\n')}`);
  }
  expect(out).toContain('all passed');
  for (const what of ['gemm', 'conv k1', 'conv k3', 'conv k5', 'split-BN', 'running var', 'linear dW', 'GAP dx',
    'MLP head dW1', 'encoder backward'])
    expect(out).toContain(what);
  expect(out).not.toContain('FAIL');
}, 600000);
