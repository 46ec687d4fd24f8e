// Builds and runs the native checks: test/native/nn_gradcheck.cpp (GEMM variants, convolution,
// split batch norm (also from the convolution's moments), the fused residual gradient, linear, GAP,
// the projection MLP and the whole encoder, each against float64
// references and finite differences), test/native/nn_bf16_check.cpp (the bf16 GEMM and the layers
// on it against float64 with bounds from bf16 rounding, and their determinism across thread
// counts; skipped, saying so, where the CPU has no AVX512-BF16) and test/native/model_api.cpp
// (the model's C API: status codes and messages, buffers, counters, a step, bf16 steps). A
// separate CMake build dir (CPU only) so the addon build is untouched; incremental after the
// first run.
import { execFileSync } from 'child_process';
import * as path from 'path';
import { backend } from '../lib';

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'build', 'native-tests');

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });

function runProgram(name: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return run(path.join(dir, name), [], env);
  } catch (e) {
    const err = e as { stdout?: string };
    // The failures, and the seed line that replays them (fresh-seed checks).
    throw new Error(`${name} failed:\n${(err.stdout ?? '').split('\n').filter((l) => /^(FAIL| {5}first bad|seed |fresh seed)/.test(l)).join('\n')}`);
  }
}

const cpuBf16 = backend().cpuBf16;
if (!cpuBf16) {
  // eslint-disable-next-line no-console
  console.log('model_layers: SKIPPED the bf16 kernel checks (nn_bf16_check): this CPU has no AVX512-BF16 (vdpbf16ps)');
}

beforeAll(() => {
  run('cmake', ['-S', root, '-B', dir, '-DCLSA_BUILD_TESTS=ON', '-DCLSA_CUDA=OFF', '-DCMAKE_BUILD_TYPE=Release']);
  run('cmake', ['--build', dir, '--target', 'nn_gradcheck', 'nn_bf16_check', 'model_api', '-j', '2']);
}, 600000);

test('model C API: errors name the argument; buffers, counters and a step work', () => {
  const out = runProgram('model_api');
  expect(out).toContain('all passed');
  expect(out).not.toContain('FAIL');
  if (cpuBf16) expect(out).toContain('bf16 steps: 4 threads give the same bits as 1 thread');
});

test('model C API with AVX-512 turned off (CLSA_CPU_KERNEL=avx2): a bf16 CPU model is refused, naming the option and AVX512-BF16', () => {
  const out = runProgram('model_api', { CLSA_CPU_KERNEL: 'avx2' });
  expect(out).toContain('all passed');
  expect(out).toMatch(/ok {3}bf16 on the CPU without AVX512-BF16 \(cpu_bf16 = 0\) -> CLSA_ERR_UNSUPPORTED: config->precision: bf16 on the CPU/);
});

(cpuBf16 ? test : test.skip)('bf16 GEMM, convolutions and linear layer within bf16 rounding bounds of float64; the same bits for any thread count', () => {
  const out = runProgram('nn_bf16_check');
  expect(out).toContain('all passed');
  expect(out).not.toContain('SKIP');
  for (const what of ['bf16 gemm', 'B rows', 'A^T', 'B^T', 'bf16 gemm_parallel', 'bf16 gemm_nt_rows', 'to_bf16 = nearest-even',
    'bf16 conv k3 s1', 'bf16 conv k3 s2', 'bf16 conv k1 s1 p1', 'bf16 conv dx', 'bf16 conv dw', 'bf16 linear', 'bf16 linear dW',
    'bf16 rounding is visible', '5 threads = 1 thread, bit for bit', 'encoder, bf16 vs fp32 back end'])
    expect(out).toContain(what);
  expect(out).not.toContain('FAIL');
}, 600000);

test('native layer gradient checks pass', () => {
  const out = runProgram('nn_gradcheck');
  expect(out).toContain('all passed');
  for (const what of ['gemm', 'conv k1', 'conv k3', 'conv k5', 'split-BN', 'running var', 'linear dW', 'GAP dx',
    'MLP head dW1', 'encoder backward', 'gemm_nt_rows', 'gemm b_rows', 'gemm a_rows', 'conv large k3 s1', 'conv large k3 s2',
    'conv large k1 s2', 'conv large k1 s1 p1', 'conv large dx (float64 adjoint)', 'dw (float64 adjoint; rows GEMM)',
    'dw (float64 adjoint; dot products)', 'conv moments k3 s2', 'BN from the conv\'s moments', 'BN from moments: running var',
    'residual grad add+ReLU backward'])
    expect(out).toContain(what);
  expect(out).not.toContain('FAIL');
}, 600000);
