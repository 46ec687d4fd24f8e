// The TypeScript device plumbing (DeviceTensor, the head / EMA / Queue device paths) run end to
// end on a machine without a GPU: bench/gpu/dryrun-shim.js replaces the addon's device entry
// points with host-memory stand-ins that call the CPU kernels. What this checks is the
// facade (shapes, ownership, dispose, result types, errors), not CUDA: bench/gpu.sh does that.
import { clsaHead, clsaHeadSync, DeviceTensor, momentumUpdate, Queue, Rng } from '../lib';
import { native } from '../lib/native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const installDryRun = require('../bench/gpu/dryrun-shim') as (n: unknown) => { uninstall(): void; live(): number };
const shim = installDryRun(native());
afterAll(() => shim.uninstall());

function rand(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}
function host(seed: number, W: number, S: number, N: number, D: number, K: number) {
  const rng = new Rng(seed);
  return {
    weak: { data: rand(rng, W * N * D), shape: [W, N, D] },
    strong: { data: rand(rng, S * N * D), shape: [S, N, D] },
    keys: { data: rand(rng, N * D), shape: [N, D] },
    queue: { data: rand(rng, K * D), shape: [K, D] },
  };
}
const upload = (x: ReturnType<typeof host>) => ({
  weak: DeviceTensor.fromHost(x.weak), strong: DeviceTensor.fromHost(x.strong),
  keys: DeviceTensor.fromHost(x.keys), queue: DeviceTensor.fromHost(x.queue),
});

test('DeviceTensor: round trip, shape, dtype, dispose and use after dispose', () => {
  const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const t = DeviceTensor.fromHost({ data, shape: [2, 3] });
  expect(t.shape).toEqual([2, 3]);
  expect(t.dtype).toBe('float32');
  expect(t.size).toBe(6);
  const h = t.toHost();
  expect(h.shape).toEqual([2, 3]);
  expect(Array.from(h.data)).toEqual([1, 2, 3, 4, 5, 6]);
  const e = DeviceTensor.empty([3]).fill(2.5);
  expect(Array.from(e.toHost().data)).toEqual([2.5, 2.5, 2.5]);
  expect(() => e.copyFrom(t)).toThrow('copyFrom(other): expected 3 elements but got [2, 3]');
  t.dispose();
  t.dispose();  // idempotent
  expect(t.disposed).toBe(true);
  expect(() => t.toHost()).toThrow('DeviceTensor [2, 3]: used after dispose()');
  e[Symbol.dispose]();
  expect(() => e.fill(1)).toThrow('used after dispose()');
  expect(shim.live()).toBe(0);
});

test('the head on DeviceTensors returns device gradients equal to the CPU result', async () => {
  const x = host(11, 2, 3, 7, 5, 13);
  const opts = { temperature: 0.2, ddmTemperature: 0.3 };
  const cpu = clsaHeadSync(x, { ...opts, device: 'cpu' });
  const d = upload(x);
  const before = shim.live();
  const r = clsaHeadSync(d, opts);
  expect(r.gradWeak).toBeInstanceOf(DeviceTensor);
  expect(r.gradWeak.shape).toEqual([2, 7, 5]);
  expect(r.gradStrong.shape).toEqual([3, 7, 5]);
  expect(r.loss).toBe(cpu.loss);
  expect(r.accuracy).toBe(cpu.accuracy);
  expect(Array.from(r.gradWeak.toHost().data)).toEqual(Array.from(cpu.gradWeak));
  expect(Array.from(r.gradStrong.toHost().data)).toEqual(Array.from(cpu.gradStrong));
  expect(shim.live()).toBe(before + 2);  // only the two gradients outlive the call (stats freed)
  r.gradWeak.dispose();
  r.gradStrong.dispose();
  const a = await clsaHead(d, opts);
  expect(a.loss).toBe(cpu.loss);
  a.gradWeak.dispose();
  a.gradStrong.dispose();
  // Host tensors with 'cuda': upload, compute, download, nothing left allocated.
  const h = clsaHeadSync(x, { ...opts, device: 'cuda' });
  expect(h.gradWeak).toBeInstanceOf(Float32Array);
  expect(Array.from(h.gradStrong)).toEqual(Array.from(cpu.gradStrong));
  Object.values(d).forEach((t) => t.dispose());
  expect(shim.live()).toBe(0);
});

test('device inputs: mixing, wrong shapes, disposed inputs and device cpu are clear errors', () => {
  const x = host(12, 1, 1, 4, 8, 16);
  const d = upload(x);
  expect(() => clsaHeadSync({ ...d, queue: x.queue } as never)).toThrow(
    /inputs: expected all tensors on one side but weak, strong, keys are DeviceTensors and queue is a host tensor/);
  expect(() => clsaHeadSync(d, { device: 'cpu' })).toThrow("options.device: 'cpu' but the inputs are DeviceTensors");
  const bad = DeviceTensor.fromHost({ data: new Float32Array(16 * 7), shape: [16, 7] });
  expect(() => clsaHeadSync({ ...d, queue: bad })).toThrow('queue.shape[1] (D): expected D = 8 (as set by an earlier tensor) but got 7');
  d.keys.dispose();
  expect(() => clsaHeadSync(d)).toThrow('DeviceTensor [4, 8]: used after dispose()');
  const nan = DeviceTensor.fromHost({ data: new Float32Array(16 * 8).fill(NaN), shape: [16, 8] });
  const d2 = upload(x);
  expect(() => clsaHeadSync({ ...d2, queue: nan })).toThrow(/queue: expected finite values but element 0/);
  [bad, nan, ...Object.values(d), ...Object.values(d2)].forEach((t) => t.dispose());
  expect(shim.live()).toBe(0);
});

test('momentumUpdate and Queue keep their data on the device', () => {
  const rng = new Rng(5);
  const t = rand(rng, 101), s = rand(rng, 101);
  const want = Float32Array.from(t);
  momentumUpdate(want, s, 0.9);
  const dt = DeviceTensor.fromHost({ data: t, shape: [101] }), ds = DeviceTensor.fromHost({ data: s, shape: [101] });
  momentumUpdate(dt, ds, 0.9);
  expect(Array.from(dt.toHost().data)).toEqual(Array.from(want));
  expect(() => momentumUpdate(dt, s, 0.9)).toThrow(/source: expected a DeviceTensor like target/);
  const viaCuda = Float32Array.from(t);
  momentumUpdate(viaCuda, s, 0.9, { device: 'cuda' });
  expect(Array.from(viaCuda)).toEqual(Array.from(want));
  dt.dispose();
  ds.dispose();

  const qc = new Queue(13, 5, { seed: 9 });
  const qg = new Queue(13, 5, { seed: 9, device: 'cuda' });
  expect(qg.device).toBe('cuda');
  expect(qg.tensor).toBeInstanceOf(DeviceTensor);
  for (let i = 0; i < 3; i++) {
    const keys = { data: rand(rng, 7 * 5), shape: [7, 5] };
    qc.enqueue(keys, { normalize: true });
    if (i === 1) {
      const dk = DeviceTensor.fromHost(keys);
      qg.enqueue(dk, { normalize: true });
      dk.dispose();
    } else {
      qg.enqueue(keys, { normalize: true });
    }
  }
  expect(qg.pointer).toBe(qc.pointer);
  expect(Array.from(qg.data)).toEqual(Array.from(qc.data));
  qg.dispose();
  expect(() => qg.data).toThrow('Queue [13, 5]: used after dispose()');
  expect(shim.live()).toBe(0);
});
