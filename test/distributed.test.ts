// Data-parallel training over MPI (docs/distributed.md): the communicator. `mpirun -np 2` ranks
// run test/helpers/distributed-rank.js and write what their collectives returned.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openDistributed } from '../lib';

const root = path.resolve(__dirname, '..');
const rankScript = path.join(__dirname, 'helpers', 'distributed-rank.js');

function mpirunMissing(): string | undefined {
  const r = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (r.error) return `mpirun is not installed (${(r.error as NodeJS.ErrnoException).code}; scripts/install-openmpi.sh installs Open MPI)`;
  if (!/Open MPI/.test(r.stdout + r.stderr)) return `mpirun is not Open MPI's (${(r.stdout + r.stderr).split('\n')[0]})`;
  return undefined;
}
const missing = mpirunMissing();
const withMpirun = missing ? test.skip : test;
const because = missing ? ` (skipped: ${missing})` : '';

beforeAll(() => {
  if (missing) console.warn(`distributed.test: the mpirun tests are skipped: ${missing}`);
  // The ranks (plain node under mpirun) and the child processes load dist/: rebuilt when lib/ is newer.
  const src = fs.readdirSync(path.join(root, 'lib'), { recursive: true }) as string[];
  const newest = Math.max(...src.filter((f) => f.endsWith('.ts')).map((f) => fs.statSync(path.join(root, 'lib', f)).mtimeMs));
  const built = path.join(root, 'dist', 'index.js');
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newest)
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
});

describe(`mpirun -np 2 ranks${because}`, () => {
  let dir = '';
  let run: ReturnType<typeof spawnSync> | undefined;
  beforeAll(() => {
    if (missing) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-mpi-'));
    // As root Open MPI wants --allow-run-as-root; --oversubscribe lets 2 ranks start on a machine
    // with fewer free slots; --bind-to none leaves scheduling to the OS on a shared CI machine.
    run = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2',
      process.execPath, rankScript, dir], { cwd: root, encoding: 'utf8', timeout: 50000 });
    if (run.status !== 0) console.log(`mpirun exited with ${run.status}:\n${run.stdout}\n${run.stderr}`);
  });
  afterAll(() => {
    if (dir && !process.env.CLSA_KEEP_MPI_DIR) fs.rmSync(dir, { recursive: true, force: true });
  });

  withMpirun('mpirun ran both ranks to a clean exit', () => {
    expect(run?.error).toBeUndefined();
    expect(run?.status).toBe(0);
  });

  withMpirun('the collectives: sum, mean, gather in rank order, broadcast from rank 1', () => {
    for (const rank of [0, 1]) {
      const c = JSON.parse(fs.readFileSync(path.join(dir, `collectives-rank${rank}.json`), 'utf8'));
      expect(c).toMatchObject({ rank, size: 2, localRank: rank, localSize: 2, library: 'libmpi.so.40' });
      expect(c.version).toMatch(/^Open MPI v\d/);
      expect(c.sum).toEqual([3, 30, 1]);
      expect(c.mean).toEqual([1.5, 15, 0.5]);
      expect(c.gather).toEqual([1, 10, 0.5, 2, 20, 0.5]);
      expect(c.broadcast).toEqual([101, 201]);
      expect(c.mineAfter).toEqual([rank + 1, 10 * (rank + 1), 0.5]);  // the inputs are left alone
    }
  });
});

describe('without MPI', () => {
  test("'none', and 'auto' outside mpirun, are one process: no MPI is loaded", () => {
    expect(openDistributed('none')).toBeUndefined();
    const size = process.env.OMPI_COMM_WORLD_SIZE;
    delete process.env.OMPI_COMM_WORLD_SIZE;
    try {
      expect(openDistributed('auto')).toBeUndefined();
    } finally {
      if (size !== undefined) process.env.OMPI_COMM_WORLD_SIZE = size;
    }
    expect(() => openDistributed('nccl' as never, 'options.distributed')).toThrow(
      /options.distributed: expected one of 'none', 'mpi', 'auto' but got the string "nccl"/);
  });

  test('a missing MPI library gives an error naming what was looked for and how to get it', () => {
    // In a child process: a loader that did find a library would start MPI in this one.
    const script = `const { openDistributed } = require(${JSON.stringify(path.join(root, 'dist'))});
      try { openDistributed('mpi', 'options.distributed'); console.log('opened'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8', env: { ...process.env, CLSA_MPI_LIBRARY: '/nonexistent/libmpi.so.40', OMPI_COMM_WORLD_SIZE: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^CLSA_ERR_UNSUPPORTED options.distributed: 'mpi' could not start MPI: /);
    expect(r.stdout).toMatch(/could not load the MPI library "\/nonexistent\/libmpi.so.40" \(\$CLSA_MPI_LIBRARY\): .*No such file/);
    expect(r.stdout).toMatch(/apt-get install openmpi-bin libopenmpi-dev/);
    // Single-process training is untouched by the missing library.
    const one = spawnSync(process.execPath, ['-e', `const { ClsaModel } = require(${JSON.stringify(path.join(root, 'dist'))});
      const m = ClsaModel.create({ width: 8, queueSize: 16, splitBN: 1 }); console.log(m.parameterCount > 0); m.dispose();`],
    { encoding: 'utf8', env: { ...process.env, CLSA_MPI_LIBRARY: '/nonexistent/libmpi.so.40' } });
    expect(one.stdout.trim()).toBe('true');
  });
});
