#!/usr/bin/env node
// Training-step throughput of ClsaModel on the CPU: images/s (one image = all its views) and
// the split of a step's time between its phases (timed natively). Default: resnet-mini,
// 28x28 single-channel, batch 256, single-crop (1 key 28, 1 weak 28, 1 strong 12 — docs/augmentations.md).
// Usage: node bench/train_step.js [--batch 256] [--size 28] [--strong 12] [--channels 1]
//        [--arch resnet-mini] [--steps 5] [--threads 0] [--device cpu]   (needs `npm run build` for dist/)
// (bench/gpu/model_check.js times the CUDA step beside PyTorch on a GPU machine.)
const os = require('os');
const { ClsaModel, Rng, setCpuThreads, backend } = require('../dist');

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (typeof def === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1]) : def;
}

// Multiply-adds of the backbone's convolutions for one image of side s (forward pass).
function convMacs(arch, width, depth, channels, s) {
  const stages = arch === 'resnet18' ? 4 : 3;
  let macs = channels * width * 9 * s * s, cin = width, side = s;
  for (let st = 0; st < stages; st++) {
    const cout = width << st;
    for (let b = 0; b < depth; b++) {
      const stride = st > 0 && b === 0 ? 2 : 1;
      const out = Math.floor((side + 2 - 3) / stride) + 1;
      macs += cin * cout * 9 * out * out + cout * cout * 9 * out * out;
      if (stride !== 1 || cin !== cout) macs += cin * cout * out * out;
      cin = cout;
      side = out;
    }
  }
  return macs;
}

async function main() {
  const batch = arg('batch', 256), size = arg('size', 28), strongSize = arg('strong', 12);
  const channels = arg('channels', 1), arch = arg('arch', 'resnet-mini'), steps = arg('steps', 5);
  setCpuThreads(arg('threads', 0));
  const rng = new Rng(1);
  const img = (s) => {
    const data = new Float32Array(batch * channels * s * s);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    return { data, shape: [batch, channels, s, s] };
  };
  const views = { key: img(size), weak: [img(size)], strong: [img(strongSize)] };
  const model = ClsaModel.create({ arch, inChannels: channels, queueSize: 4096, device: arg('device', 'cpu') });
  await model.step(views, { lr: 0.01 });  // warm-up: allocates the activations
  const phases = { keyForward: 0, queryForward: 0, head: 0, backward: 0, update: 0 };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) {
    const r = await model.step(views, { lr: 0.01 });
    for (const k of Object.keys(phases)) phases[k] += r.seconds[k];
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const width = model.config.width, depth = model.config.depth;
  // forward of key + weak + strong, backward (~2x forward) of weak + strong
  const fwd = convMacs(arch, width, depth, channels, size), fwdS = convMacs(arch, width, depth, channels, strongSize);
  const flops = 2 * batch * steps * (fwd + (fwd + fwdS) * 3);
  const b = backend();
  const out = {
    bench: 'train_step', arch, batch, size, strongSize, channels, steps,
    device: model.config.device, parameterCount: model.parameterCount, cpuThreads: b.cpuThreads, cpuKernel: b.cpuKernel,
    imagesPerSecond: (batch * steps) / seconds,
    secondsPerStep: seconds / steps,
    phaseSecondsPerStep: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, v / steps])),
    convGflopPerSecond: flops / seconds / 1e9,
    loadAverage: os.loadavg(),
  };
  model.dispose();
  console.log(JSON.stringify(out, null, 2));
}

module.exports = { convMacs };
if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
