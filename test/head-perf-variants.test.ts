// Every CPU kernel variant of the fused head (and the benchmark's unfused comparison head)
// against the float64 reference. The variant is chosen once per process (CLSA_CPU_KERNEL is
// read at the first call), so each variant runs in its own child `node`.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

// Runs in the child: random inputs for each shape, fused + unfused + reference, error summary.
const childScript = `
const nat = require('node-gyp-build')(${JSON.stringify(root)});
const seed0 = Number(process.argv[1]);
let s = seed0 >>> 0;
const uni = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const gauss = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) {
  a[i] = Math.sqrt(-2 * Math.log(Math.max(uni(), 1e-12))) * Math.cos(2 * Math.PI * uni()); } return a; };
const relNorm = (a, b) => { let n = 0, d = 0; for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return d === 0 ? Math.sqrt(n) : Math.sqrt(n / d); };
const shapes = JSON.parse(process.argv[2]);
const out = { kernel: nat.backend().cpuKernel, seed: seed0, cases: [] };
for (const c of shapes) {
  const { n, d, k, w, s: S } = c;
  const queue = gauss(k * d);
  if (c.normalize) for (let r = 0; r < k; r++) { let q = 0; for (let e = 0; e < d; e++) q += queue[r * d + e] ** 2;
    q = Math.sqrt(q); for (let e = 0; e < d; e++) queue[r * d + e] /= q; }
  const scaleIn = c.normalize ? 1 : 1 / Math.sqrt(d);  // keep logits O(1/tau) without normalising
  const scaled = (a) => { for (let i = 0; i < a.length; i++) a[i] *= scaleIn; return a; };
  const base = { n, d, k, w, s: S, temperature: c.tau, ddmTemperature: c.tau2, ddmWeight: c.alpha, normalize: c.normalize,
    precision: 0, weak: scaled(gauss(w * n * d)), strong: S > 0 ? scaled(gauss(S * n * d)) : null,
    keys: scaled(gauss(n * d)), queue };
  const run = (fn) => { const a = { ...base, gradWeak: new Float32Array(w * n * d),
    gradStrong: S > 0 ? new Float32Array(S * n * d) : null, stats: new Float32Array(4) }; nat[fn](a); return a; };
  const ref = run('headReference');
  const cmp = (a) => ({
    loss: Math.abs(a.stats[0] - ref.stats[0]) / Math.abs(ref.stats[0]),
    nce: Math.abs(a.stats[1] - ref.stats[1]) / Math.abs(ref.stats[1]),
    ddm: S > 0 ? Math.abs(a.stats[2] - ref.stats[2]) / Math.abs(ref.stats[2]) : Math.abs(a.stats[2]),
    acc: Math.abs(a.stats[3] - ref.stats[3]),
    gradWeak: relNorm(a.gradWeak, ref.gradWeak),
    gradStrong: S > 0 ? relNorm(a.gradStrong, ref.gradStrong) : 0,
  });
  out.cases.push({ ...c, fused: cmp(run('headSync')), unfused: cmp(run('headUnfused')) });
  // The fused sum over tile ranges does not depend on which thread ran which range.
  const runs = [1, 3, 2].map((t) => { nat.setCpuThreads(t); return run('headSync'); });
  nat.setCpuThreads(0);
  const same = (x, y) => x === null || x.every((v, i) => Object.is(v, y[i]));
  out.cases[out.cases.length - 1].deterministic = runs.every((r) =>
    same(r.gradWeak, runs[0].gradWeak) && same(r.gradStrong, runs[0].gradStrong) && same(r.stats, runs[0].stats));
}
process.stdout.write(JSON.stringify(out));
`;

const shapes = [
  { n: 7, d: 5, k: 13, w: 5, s: 3, tau: 0.2, tau2: 0.2, alpha: 1, normalize: true },
  { n: 33, d: 70, k: 1000, w: 2, s: 2, tau: 0.2, tau2: 0.1, alpha: 0.7, normalize: true },
  { n: 9, d: 17, k: 211, w: 1, s: 1, tau: 0.15, tau2: 0.3, alpha: 1, normalize: false },
  { n: 5, d: 3, k: 200, w: 3, s: 0, tau: 0.1, tau2: 0.2, alpha: 1, normalize: true },
];

function cpuFlags(): string {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return line ?? '';
  } catch {
    return '';
  }
}
const flags = cpuFlags();
const supports = (v: string): boolean =>
  v === 'generic' ||
  (v === 'avx2' && /\bavx2\b/.test(flags) && /\bfma\b/.test(flags)) ||
  (v === 'avx512' && ['avx512f', 'avx512vl', 'avx512bw', 'avx512dq'].every((f) => new RegExp(`\\b${f}\\b`).test(flags)));

describe.each(['generic', 'avx2', 'avx512'])('CPU kernel variant %s', (variant) => {
  test('fused and unfused heads match the float64 reference on odd shapes; fused sums do not depend on the thread count', () => {
    const seed = (Date.now() ^ (variant.length * 7919)) >>> 0;
    const r = spawnSync(process.execPath, ['-e', childScript, String(seed), JSON.stringify(shapes)], {
      encoding: 'utf8',
      env: { ...process.env, CLSA_CPU_KERNEL: variant },
      timeout: 60000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      kernel: string;
      seed: number;
      cases: Array<Record<string, unknown> & { fused: Record<string, number>; unfused: Record<string, number> }>;
    };
    if (supports(variant)) expect(out.kernel).toBe(variant);
    else expect(['generic', 'avx2']).toContain(out.kernel); // falls back on CPUs without it
    for (const c of out.cases) {
      for (const impl of ['fused', 'unfused'] as const) {
        const e = c[impl];
        const where = `${variant} ${impl} seed ${out.seed} shape ${JSON.stringify(shapes[out.cases.indexOf(c)])}`;
        expect({ where, loss: e.loss < 1e-5 }).toEqual({ where, loss: true });
        expect({ where, nce: e.nce < 1e-5, ddm: e.ddm < 1e-5 }).toEqual({ where, nce: true, ddm: true });
        expect({ where, gw: e.gradWeak < 1e-4, gs: e.gradStrong < 1e-4 }).toEqual({ where, gw: true, gs: true });
        // accuracy: at most one near-tie between float and double argmax
        expect({ where, deterministic: c.deterministic }).toEqual({ where, deterministic: true });
        const wn = (c.w as number) * (c.n as number);
        expect({ where, acc: e.acc <= 1 / wn + 1e-6 }).toEqual({ where, acc: true });
      }
    }
  });
});
