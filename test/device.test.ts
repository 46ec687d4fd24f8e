// Device policy on a machine without a usable GPU (CI): what backend() says, that 'cuda'
// requests fail clearly with that reason, that 'auto' runs on the CPU with the same results as
// 'cpu', and that device tensors cannot be created. The GPU side is exercised by bench/gpu.sh.
import { backend, clsaHeadSync, DeviceTensor, momentumUpdate, Queue, Rng } from '../lib';

const b = backend();
const gpu = b.cudaUsable;
const noGpu = gpu ? test.skip : test;

function rand(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function inputs(seed: number, W: number, S: number, N: number, D: number, K: number) {
  const rng = new Rng(seed);
  return {
    weak: { data: rand(rng, W * N * D), shape: [W, N, D] },
    strong: { data: rand(rng, S * N * D), shape: [S, N, D] },
    keys: { data: rand(rng, N * D), shape: [N, D] },
    queue: { data: rand(rng, K * D), shape: [K, D] },
  };
}

noGpu('backend() reports the CUDA back end compiled in but not usable, with a reason', () => {
  if (!b.cudaCompiled) {
    expect(b.cudaState).toBe('not-compiled');
    return;
  }
  expect(b.cudaUsable).toBe(false);
  expect(['no-driver', 'driver-too-old', 'no-device', 'error']).toContain(b.cudaState);
  expect(b.cudaMessage.length).toBeGreaterThan(0);
  expect(b.devices).toHaveLength(0);
});

noGpu("'cuda' requests fail with the reason from backend()", () => {
  const x = inputs(1, 1, 1, 4, 8, 16);
  const reason = b.cudaCompiled ? b.cudaMessage : 'no CUDA back end';
  expect(() => clsaHeadSync(x, { device: 'cuda' })).toThrow(/options\.device: 'cuda' requested but/);
  expect(() => clsaHeadSync(x, { device: 'cuda' })).toThrow(reason);
  expect(() => momentumUpdate(new Float32Array(4), new Float32Array(4), 0.9, { device: 'cuda' })).toThrow(/'cuda' requested/);
  expect(() => new Queue(8, 4, { device: 'cuda' })).toThrow(/opts\.device: 'cuda' requested but/);
});

noGpu('DeviceTensor creation fails clearly without a GPU', () => {
  expect(() => DeviceTensor.fromHost({ data: new Float32Array(6), shape: [2, 3] })).toThrow(
    /DeviceTensor\.fromHost: 'cuda' requested but/);
  expect(() => DeviceTensor.empty([3])).toThrow(/DeviceTensor\.empty: 'cuda' requested but/);
});

test('DeviceTensor arguments are validated before any device is touched', () => {
  expect(() => DeviceTensor.fromHost({ data: new Float32Array(5), shape: [2, 3] })).toThrow(
    'tensor.data: expected a Float32Array of length 6 but got length 5');
  expect(() => DeviceTensor.empty([2, -1])).toThrow('shape[1]: expected an integer in [0, 2147483647] but got -1');
  expect(() => DeviceTensor.fromHost(null as never)).toThrow(/expected \{ data: Float32Array, shape \} but got null/);
});

noGpu("'auto' runs on the CPU with results identical to 'cpu'", () => {
  for (const [W, S, N, D, K, tau2] of [[1, 1, 7, 5, 13, 0.2], [2, 3, 5, 9, 40, 0.35]] as const) {
    const x = inputs(7 + W, W, S, N, D, K);
    const o = { temperature: 0.2, ddmTemperature: tau2 };
    const a = clsaHeadSync(x, { ...o, device: 'auto' });
    const c = clsaHeadSync(x, { ...o, device: 'cpu' });
    expect(a.loss).toBe(c.loss);
    expect(a.accuracy).toBe(c.accuracy);
    expect(Array.from(a.gradWeak)).toEqual(Array.from(c.gradWeak));
    expect(Array.from(a.gradStrong)).toEqual(Array.from(c.gradStrong));
    expect(Number.isFinite(a.loss)).toBe(true);
  }
  const t1 = new Float32Array([1, 2, 3]), t2 = new Float32Array([1, 2, 3]), s = new Float32Array([3, 2, 1]);
  momentumUpdate(t1, s, 0.5, { device: 'auto' });
  momentumUpdate(t2, s, 0.5, { device: 'cpu' });
  expect(Array.from(t1)).toEqual(Array.from(t2));
  expect(Array.from(t1)).toEqual([2, 2, 2]);
  const q = new Queue(8, 4, { seed: 3, device: 'auto' });
  expect(q.device).toBe('cpu');
  expect(q.tensor).toEqual({ data: q.data, shape: [8, 4] });
});

noGpu('tensor-core precisions are refused on the CPU', () => {
  const x = inputs(2, 1, 1, 4, 8, 16);
  expect(() => clsaHeadSync(x, { precision: 'bf16' })).toThrow(
    "options.precision: the CPU back end computes in fp32 only but got 'bf16'");
  expect(() => clsaHeadSync(x, { device: 'gpu' as never })).toThrow(
    "options.device: expected one of 'auto', 'cpu', 'cuda' but got the string \"gpu\"");
});

test('a malformed input tensor is named in the error', () => {
  const x = inputs(3, 1, 1, 4, 8, 16);
  expect(() => clsaHeadSync({ ...x, queue: { shape: [16, 8] } as never })).toThrow(/queue\.data: expected a Float32Array/);
});
