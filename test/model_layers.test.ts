// Builds and runs the native checks: test/native/nn_gradcheck.cpp (GEMM variants, convolution,
// split batch norm, linear, GAP, the projection MLP and the whole encoder, each against float64
// references and finite differences) and test/native/model_api.cpp (the model's C API: status
// codes and messages, buffers, counters, a step). A separate CMake build dir (CPU only) so the
// addon build is untouched; incremental after the first run.
import { execFileSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'build', 'native-tests');

const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function runProgram(name: string): string {
  try {
    return run(path.join(dir, name), []);
  } catch (e) {
    const err = e as { stdout?: string };
    throw new Error(`${name} failed:\n${(err.stdout ?? '').split('\n').filter((l) => l.startsWith('FAIL')).join('\n')}`);
  }
}

beforeAll(() => {
  run('cmake', ['-S', root, '-B', dir, '-DCLSA_BUILD_TESTS=ON', '-DCLSA_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']);
  run('cmake', ['--build', dir, '--target', 'nn_gradcheck', 'model_api', '-j', '2']);
}, 600000);

test('model C API: errors name the argument; buffers, counters and a step work', () => {
  const out = runProgram('model_api');
  expect(out).toContain('all passed');
  expect(out).not.toContain('FAIL');
});

test('native layer gradient checks pass', () => {
  const out = runProgram('nn_gradcheck');
  expect(out).toContain('all passed');
  for (const what of ['gemm', 'conv k1', 'conv k3', 'conv k5', 'split-BN', 'running var', 'linear dW', 'GAP dx',
    'MLP head dW1', 'encoder backward', 'gemm_nt_rows', 'gemm b_rows', 'conv large k3 s1', 'conv large k3 s2',
    'conv large dw (float64 adjoint)'])
    expect(out).toContain(what);
  expect(out).not.toContain('FAIL');
}, 600000);
