// Using clsa from TypeScript (compiled under `strict`). The packaging test type-checks this file
// against the installed package's types and runs it.
//   npx tsc --strict --module node16 usage.ts && node usage.js
import { backend, clsaHead, clsaHeadSync, momentumUpdate, Queue, Rng } from 'clsa';
import type { BackendInfo, HeadOptions, HeadResult, HostTensor } from 'clsa';

function randomTensor(rng: Rng, shape: number[]): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { data, shape };
}

async function main(): Promise<void> {
  const info: BackendInfo = backend();
  const gpu = info.cudaUsable ? info.devices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ') : `none (${info.cudaState}: ${info.cudaMessage})`;
  console.log(`clsa ${info.version}: CPU kernels ${info.cpuKernel} x${info.cpuThreads}, CUDA compiled ${info.cudaCompiled}, GPU ${gpu}`);

  const N = 8, D = 16, K = 64;
  const rng = new Rng(7);
  const queue = new Queue(K, D, { seed: 1 });
  const inputs = {
    weak: randomTensor(rng, [1, N, D]),
    strong: randomTensor(rng, [1, N, D]),
    keys: randomTensor(rng, [N, D]),
    queue: { data: queue.data, shape: [K, D] },
  };
  const options: HeadOptions = { temperature: 0.2, ddmTemperature: 0.2, ddmWeight: 1, device: 'cpu' };

  const sync: HeadResult = clsaHeadSync(inputs, options);
  const viaWorker: HeadResult = await clsaHead(inputs, options); // off the event loop
  const gradNorm = Math.sqrt(sync.gradWeak.reduce((s, g) => s + g * g, 0));
  console.log(`loss ${sync.loss.toFixed(6)} = nce ${sync.nceLoss.toFixed(6)} + ddm ${sync.ddmLoss.toFixed(6)}; ` +
    `accuracy ${sync.accuracy}; |dL/dweak| ${gradNorm.toFixed(6)}`);
  if (sync.loss !== viaWorker.loss) throw new Error('clsaHead and clsaHeadSync disagree');

  queue.enqueue(inputs.keys, { normalize: true });
  const keyParams = new Float32Array(10).fill(1);
  const queryParams = new Float32Array(10);
  momentumUpdate(keyParams, queryParams, 0.99);

  // Types are checked: these lines would not compile.
  // @ts-expect-error the shape is an array of numbers
  void (() => clsaHeadSync({ ...inputs, keys: { data: inputs.keys.data, shape: 'N,D' } }));
  // @ts-expect-error precision is one of 'fp32' | 'tf32' | 'bf16' | 'fp16'
  void (() => clsaHeadSync(inputs, { precision: 'fp64' }));

  console.log(JSON.stringify({ loss: sync.loss, queuePointer: queue.pointer, keyParam0: keyParams[0] }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
