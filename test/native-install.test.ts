// libclsa as native consumers get it: `cmake --install` into a temporary prefix, then
// examples/native (find_package(clsa CONFIG REQUIRED), shared and static targets) configured,
// built and run against it, and a one-line C program compiled through pkg-config.
// To keep CI time down libclsa is built CPU-only here (-DCLSA_CUDA=OFF); the CUDA variant of
// the install tree (clsa::clsa_static pulling in CUDA::cudart_static) is covered by the
// commands in docs/c-api.md, not by this test.
import { spawnSync, SpawnSyncOptions } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

interface Run { status: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}
function ok(r: Run, what: string): Run {
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r;
}
const have = (tool: string) => run('sh', ['-c', `command -v ${tool}`]).status === 0;
const generator = have('ninja') ? ['-G', 'Ninja'] : [];

const describeUnix = process.platform === 'linux' ? describe : describe.skip;

describeUnix('libclsa installed with cmake --install', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-native-'));
  const prefix = path.join(tmp, 'prefix');

  beforeAll(() => {
    const t0 = Date.now();
    const build = path.join(tmp, 'build');
    ok(run('cmake', ['-S', root, '-B', build, ...generator, '-DCMAKE_BUILD_TYPE=Release', '-DCLSA_CUDA=OFF']), 'cmake configure');
    ok(run('cmake', ['--build', build, '--parallel', '2']), 'cmake --build');
    ok(run('cmake', ['--install', build, '--prefix', prefix]), 'cmake --install');
    console.log(`native install: libclsa configure + build + install (CPU-only) took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);

  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('installs the libraries, every public header, the CMake package and clsa.pc', () => {
    const files = ['lib/libclsa.a', 'lib/libclsa.so', 'lib/libclsa.so.0.1', 'lib/cmake/clsa/clsaConfig.cmake',
      'lib/cmake/clsa/clsaConfigVersion.cmake', 'lib/cmake/clsa/clsaTargets.cmake', 'lib/cmake/clsa/clsaStaticTargets.cmake',
      'lib/pkgconfig/clsa.pc',
      ...fs.readdirSync(path.join(root, 'native', 'include', 'clsa')).map((h) => `include/clsa/${h}`)];
    expect(files.filter((f) => !fs.existsSync(path.join(prefix, f)))).toEqual([]);
    // Only the C API is exported from the shared library.
    const syms = ok(run('nm', ['-D', '--defined-only', path.join(prefix, 'lib', 'libclsa.so')]), 'nm -D').stdout
      .split('\n').filter((l) => / T /.test(l)).map((l) => l.split(' ').pop() as string);
    expect(syms).toContain('clsa_head_forward_backward');
    expect(syms.filter((s) => !s.startsWith('clsa_') && !/^_(init|fini)$/.test(s))).toEqual([]);
  });

  test('examples/native builds with find_package(clsa CONFIG REQUIRED) and agrees with its float64 computation', () => {
    const build = path.join(tmp, 'example');
    const cfg = ok(run('cmake', ['-S', path.join(root, 'examples', 'native'), '-B', build, ...generator,
      `-DCMAKE_PREFIX_PATH=${prefix}`]), 'cmake configure examples/native');
    expect(cfg.stdout).toContain(`clsa 0.1.0 from ${path.join(prefix, 'lib', 'cmake', 'clsa')}`);
    ok(run('cmake', ['--build', build]), 'cmake --build examples/native');
    for (const exe of ['clsa_example', 'clsa_example_static']) {
      const r = ok(run(path.join(build, exe), []), exe);
      expect(r.stdout).toMatch(/^ {2}loss +cpu .* ok$/m);
      expect(r.stdout).toMatch(/gradients: .* ok$/m);
      expect(r.stdout).toContain('OK: libclsa agrees with the float64 computation');
    }
    // The shared target really is the shared library.
    const ldd = ok(run('ldd', [path.join(build, 'clsa_example')]), 'ldd').stdout;
    expect(ldd).toContain(path.join(prefix, 'lib', 'libclsa.so.0.1'));
  });

  test('a version the package does not satisfy is refused (SameMinorVersion)', () => {
    const dir = path.join(tmp, 'wrong-version');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'CMakeLists.txt'),
      'cmake_minimum_required(VERSION 3.19)\nproject(v LANGUAGES NONE)\nfind_package(clsa 0.2 CONFIG REQUIRED)\n');
    const r = run('cmake', ['-S', dir, '-B', path.join(dir, 'b'), `-DCMAKE_PREFIX_PATH=${prefix}`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/clsaConfig\.cmake, version: 0\.1\.0/);
  });

  (have('pkg-config') ? test : test.skip)('a C program compiles and links through pkg-config', () => {
    const src = path.join(tmp, 'one.c');
    fs.writeFileSync(src, '#include <clsa/clsa.h>\n#include <stdio.h>\nint main(void) { clsa_backend_info i; ' +
      'if (clsa_backend_query(&i) != CLSA_OK) return 1; printf("%s %d\\n", clsa_version(), (int)i.cpu_threads); return 0; }\n');
    const env = { ...process.env, PKG_CONFIG_PATH: path.join(prefix, 'lib', 'pkgconfig') };
    const flags = ok(run('pkg-config', ['--cflags', '--libs', 'clsa'], { env }), 'pkg-config').stdout.trim().split(/\s+/);
    expect(ok(run('pkg-config', ['--modversion', 'clsa'], { env }), 'pkg-config --modversion').stdout.trim()).toBe('0.1.0');
    const exe = path.join(tmp, 'one');
    ok(run('cc', ['-std=c99', '-Wall', '-Werror', src, ...flags, '-o', exe]), 'cc');
    const r = ok(run(exe, [], { env: { ...process.env, LD_LIBRARY_PATH: path.join(prefix, 'lib') } }), 'one');
    expect(r.stdout).toMatch(/^0\.1\.0 [1-9]\d*$/m);
  });
});
