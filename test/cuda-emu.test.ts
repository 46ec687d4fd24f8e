// The CUDA sources under the host emulator (test/cuda-host): libclsa with its CUDA back end built
// by the host compiler under ASan + UBSan, then every kernel family against its CPU twin on small
// odd shapes, with a seeded random thread schedule and poisoned shared memory. Needs cmake, a C++
// compiler and node, not the CUDA toolkit (test/cuda-host/include stands in for its headers).
// Without cmake, a compiler or nm the checks are skipped, and the skipped suite's name says why;
// in CI (CI=true) the suite is mandatory and the missing tools are a failure. A check program
// passes only when it ran at least one check and none failed.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const emuDir = path.join(root, 'test', 'cuda-host');
const build = path.join(root, 'build-emu');
const launchLog = path.join(build, 'launches.log');

const CHECKS: { name: string; exe: string; args: string[]; what: string }[] = [
  { name: 'backend', exe: 'emu_backend', args: [], what: 'fill, EMA, enqueue, row scan (cuda/backend.cu)' },
  { name: 'nn', exe: 'emu_nn_check', args: ['--max-work', '3e6'], what: 'encoder layers and SGD (cuda/nn, test/gpu/nn_check.cpp)' },
  { name: 'head', exe: 'emu_head', args: [], what: 'fused head fp32/tf32/bf16/fp16 (cuda/head*.cu)' },
  { name: 'knn', exe: 'emu_knn', args: [], what: 'kNN top-k (cuda/knn.cu)' },
  { name: 'augment', exe: 'emu_augment', args: [], what: 'augmentation pipelines, bit-identical to the CPU (cuda/augment.cu)' },
  { name: 'model', exe: 'emu_model', args: [], what: 'CUDA model back end, whole training steps vs the CPU model (cuda/model_ops.cu)' },
];

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}
const missing = ['cmake', 'c++', 'nm'].filter((t) => !which(t));
const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const describeEmu = missing.length === 0 ? describe : describe.skip;
const why = missing.length ? ` [skipped: ${missing.join(', ')} not found on the PATH; mandatory with CI=true]` : '';

if (missing.length && inCi) {
  test('the emulated CUDA checks run (CI=true makes them mandatory)', () => {
    throw new Error(`cuda-emu: ${missing.join(', ')} not found on the PATH, so the emulated CUDA checks ` +
      `(${CHECKS.map((c) => c.what).join('; ')}, kernel coverage) cannot run; CI requires them`);
  });
}

/** The "PASS: 0 of N checks failed" line of a check program, with N > 0: a program that ran no
 * check has checked nothing. */
function passedChecks(out: string): number {
  const m = /PASS: 0 of (\d+) checks failed/.exec(out);
  return m ? Number(m[1]) : 0;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd: build,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1', ...env },
  });
  return { status: r.status, signal: r.signal, out: `${r.stdout}\n${r.stderr}` };
}

test('a check program\'s output counts as passed only when it ran at least one check and none failed', () => {
  expect(passedChecks('emu_knn: PASS: 0 of 12 checks failed (data seed 1, emulator seed 2)')).toBe(12);
  expect(passedChecks('emu_knn: PASS: 0 of 0 checks failed (data seed 1, emulator seed 2)')).toBe(0);
  expect(passedChecks('emu_knn: FAIL: 0 of 0 checks failed, none ran (data seed 1, emulator seed 2)')).toBe(0);
  expect(passedChecks('emu_knn: FAIL: 2 of 12 checks failed')).toBe(0);
});

describeEmu(`CUDA kernels under the host emulator${why}`, () => {
  beforeAll(() => {
    fs.mkdirSync(build, { recursive: true });
    fs.rmSync(launchLog, { force: true });
    const cfg = run('cmake', ['-S', emuDir, '-B', build, '-DCMAKE_BUILD_TYPE=Debug']);
    if (cfg.status !== 0) throw new Error(`cmake configure failed\n${cfg.out}`);
    const jobs = String(Math.max(2, Math.min(8, os.cpus().length)));
    const b = run('cmake', ['--build', build, '-j', jobs]);
    if (b.status !== 0) throw new Error(`emulator build failed\n${b.out.slice(-20000)}`);
  }, 900000);

  for (const c of CHECKS) {
    test(`${c.name}: ${c.what}`, () => {
      const r = run(path.join(build, c.exe), c.args, { CLSA_EMU_LAUNCH_LOG: launchLog });
      if (r.status !== 0) throw new Error(`${c.exe} ${c.args.join(' ')} failed (status ${r.status}, signal ${r.signal})\n${r.out.slice(-30000)}`);
      expect(passedChecks(r.out)).toBeGreaterThan(0);
    }, 600000);
  }

  // The CUDA step on 2 ranks over the NCCL back end (checks/nccl_step.cpp), NCCL being the host-memory
  // stand-in of test/fake-nccl (the emulator's device memory is host memory): needs Open MPI's mpirun
  // and mpicc, which builds the stand-in; without them the test is skipped and its name says why.
  const mpiWhy = !which('mpirun') ? 'mpirun not found on the PATH (scripts/install-openmpi.sh)'
    : !which('mpicc') ? 'mpicc not found on the PATH (it builds the NCCL stand-in: apt-get install libopenmpi-dev)' : '';
  (mpiWhy ? test.skip : test)(`nccl_step: the CUDA step on 2 ranks over NCCL (host stand-in) against one emulated process${mpiWhy ? ` [skipped: ${mpiWhy}]` : ''}`, () => {
    const fake = path.join(build, 'libnccl.so.2');
    const cc = run('mpicc', ['-shared', '-fPIC', '-Wall', '-o', fake, path.join(root, 'test', 'fake-nccl', 'fake_nccl.c')]);
    if (cc.status !== 0) throw new Error(`mpicc failed\n${cc.out}`);
    // Both ranks draw the same global batches: one data seed for both.
    const seed = String(Math.floor(Math.random() * 2 ** 31));
    const r = run('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2',
      path.join(build, 'emu_nccl_step'), '--seed', seed], { CLSA_NCCL_LIBRARY: fake });
    if (r.status !== 0) throw new Error(`mpirun -np 2 emu_nccl_step --seed ${seed} failed (status ${r.status}, signal ${r.signal})\n${r.out.slice(-30000)}`);
    const passed = [...r.out.matchAll(/emu_nccl_step: PASS: 0 of (\d+) checks failed/g)].map((m) => Number(m[1]));
    expect(passed).toHaveLength(2);  // both ranks
    expect(Math.min(...passed)).toBeGreaterThan(0);
  }, 600000);

  test('every __global__ function in native/src/cuda, and every instantiation of one, was launched by the checks above', () => {
    const r = run('node', [path.join(emuDir, 'kernel_coverage.js'), launchLog]);
    if (r.status !== 0) throw new Error(r.out);
    expect(r.out).toMatch(/__global__ functions in native\/src\/cuda: \d+/);
    expect(r.out).toMatch(/kernel instantiations in the check programs: (\d+), launched: \1\n/);
  }, 60000);
});
