// ONNX export: the file onnxruntime-node runs gives Encoder.embed's features (and the projection
// head's output) within a stated bound, for both architectures, 1 and 3 channels, odd batches and
// odd image sizes, with batch norm as nodes and folded; the file's metadata, and argument errors.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { encoderLayout } from '../lib/layout';
import { ClsaModel, ModelConfig, ResolvedModelConfig } from '../lib/model';
import { toEncoderInput } from '../lib/encoder';
import { ONNX_IR_VERSION, ONNX_OPSET } from '../lib/onnx';
import { Rng } from '../lib/random';
import { maxRowRelDiff, perturbedEncoder, randomImages } from './helpers/encoders';

/** Bound on max_row max|onnx - embed| / max|embed| (float32 sums in another order). */
const BOUND = 1e-4;
const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
let tmp: string;

beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-onnx-')); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface OrtOutput { dims: number[]; data: Float32Array }

/** The file run by onnxruntime-node (in a child process: see test/helpers/ort-node.js). */
function runOnnx(file: string, x: { data: Float32Array; shape: number[] }): Record<string, OrtOutput> {
  const input = file + '.input.f32';
  fs.writeFileSync(input, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  const out = execFileSync(process.execPath, [path.join(__dirname, 'helpers', 'ort-node.js'), file, input, x.shape.join(',')],
    { encoding: 'utf8', maxBuffer: 1 << 28 });
  fs.rmSync(input);
  const parsed = JSON.parse(out) as Record<string, { dims: number[]; data: string }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => {
    const b = Buffer.from(v.data, 'base64');
    return [k, { dims: v.dims, data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) }];
  }));
}

/** fc.0 -> ReLU -> fc.2 of the native parameter buffer, in float64. */
function headReference(params: Float32Array, config: ResolvedModelConfig, feats: Float32Array, n: number): Float64Array {
  const l = encoderLayout(config);
  const h = new Float64Array(n * l.fc1.out), z = new Float64Array(n * l.fc2.out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < l.fc1.out; o++) {
      let s = params[l.fc1.b + o];
      for (let j = 0; j < l.fc1.in; j++) s += params[l.fc1.w + o * l.fc1.in + j] * feats[i * l.fc1.in + j];
      h[i * l.fc1.out + o] = Math.max(s, 0);
    }
    for (let o = 0; o < l.fc2.out; o++) {
      let s = params[l.fc2.b + o];
      for (let j = 0; j < l.fc2.in; j++) s += params[l.fc2.w + o * l.fc2.in + j] * h[i * l.fc2.in + j];
      z[i * l.fc2.out + o] = s;
    }
  }
  return z;
}

test('the layout mirrors the native one: parameter and statistics totals for every architecture', () => {
  for (const cfg of [{}, { arch: 'resnet18' as const, width: 8 }, { width: 5, depth: 3, inChannels: 1 }, { arch: 'resnet18' as const, width: 3, depth: 1, projHidden: 7, projDim: 5 }]) {
    const m = ClsaModel.create({ queueSize: 16, ...cfg });
    const st = m.state();
    const l = encoderLayout(m.config);
    expect({ cfg, params: l.params, stats: l.stats, feat: l.featureDim })
      .toEqual({ cfg, params: st.buffers.query_params.length, stats: st.buffers.query_bn_stats.length, feat: m.featureDim });
    m.dispose();
  }
});

const CASES: { name: string; config: ModelConfig; n: number; size: [number, number]; head?: boolean; fold?: boolean }[] = [
  { name: 'resnet-mini, 1 channel, batch 1', config: { width: 4, inChannels: 1 }, n: 1, size: [28, 28] },
  { name: 'resnet-mini, 3 channels, depth 2, batch 7, 17x13 images, head', config: { width: 6, depth: 2, inChannels: 3, projDim: 12 }, n: 7, size: [17, 13], head: true },
  { name: 'resnet18, 1 channel, batch 3, BN folded', config: { arch: 'resnet18', width: 4, inChannels: 1 }, n: 3, size: [16, 16], fold: true },
  { name: 'resnet18, 3 channels, depth 1, batch 5, head, BN folded', config: { arch: 'resnet18', width: 4, depth: 1, inChannels: 3, projHidden: 10, projDim: 6 }, n: 5, size: [20, 20], head: true, fold: true },
];

describe(`onnxruntime-node runs the export as Encoder.embed (bound ${BOUND}, seed ${seed})`, () => {
  const measured: Record<string, number> = {};
  afterAll(() => { process.stdout.write(`ONNX vs embed, max row-relative difference: ${JSON.stringify(measured)}\n`); });

  test.each(CASES)('$name', async ({ name, config, n, size, head, fold }) => {
    const rng = new Rng(seed);
    const { encoder, params } = perturbedEncoder(config, rng);
    const file = path.join(tmp, `${name.replace(/\W+/g, '_')}.onnx`);
    const info = await encoder.exportOnnx(file, { head, foldBatchNorm: fold });
    const c = encoder.config.inChannels;
    const images = randomImages(rng, n, size[0], size[1], c);
    const ref = await encoder.embed(images);
    const out = runOnnx(file, toEncoderInput(images, encoder.normalization));
    const ctx = `seed ${seed}, ${name}`;
    expect({ ctx, dims: out.features.dims }).toEqual({ ctx, dims: [n, encoder.featureDim] });
    const rel = maxRowRelDiff(out.features.data, ref.data, encoder.featureDim);
    measured[`${name} features`] = rel;
    expect({ ctx, rel, ok: rel <= BOUND }).toMatchObject({ ctx, ok: true });
    // The features are not trivially small or constant (BN and ReLU left something to compare).
    expect(Math.max(...ref.data)).toBeGreaterThan(1e-2);
    if (head) {
      const z = headReference(params, encoder.config, ref.data, n);
      const d = encoder.config.projDim;
      expect(out.projection.dims).toEqual([n, d]);
      const relZ = maxRowRelDiff(out.projection.data, z, d);
      measured[`${name} projection`] = relZ;
      expect({ ctx, relZ, ok: relZ <= BOUND }).toMatchObject({ ctx, ok: true });
      expect(info.outputs.map((o) => o.name)).toEqual(['features', 'projection']);
    } else {
      expect(out.projection).toBeUndefined();
    }
    encoder.dispose();
  });
});

test('the file: IR version, opset, a dynamic batch, the normalisation in its metadata, atomic replace', async () => {
  const rng = new Rng(seed ^ 1);
  const { encoder, params } = perturbedEncoder({ width: 4, inChannels: 1 }, rng, [28, 28]);
  const file = path.join(tmp, 'meta', 'encoder.onnx');
  fs.mkdirSync(path.dirname(file));
  fs.writeFileSync(file, 'an older file');
  await encoder.exportOnnx(file);
  expect(fs.readdirSync(path.dirname(file))).toEqual(['encoder.onnx']);  // no temp file left behind
  const m = onnx.ModelProto.decode(fs.readFileSync(file));
  expect(Number(m.irVersion)).toBe(ONNX_IR_VERSION);
  expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', ONNX_OPSET]]);
  const g = m.graph as onnx.GraphProto;
  const input = g.input[0];
  expect(input.name).toBe('images');
  expect(input.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['batch', 1, 'height', 'width']);
  expect(g.output.map((o) => o.name)).toEqual(['features']);
  const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
  expect(JSON.parse(meta['clsa.normalization.mean'])).toEqual(encoder.normalization.mean);
  expect(JSON.parse(meta['clsa.normalization.std'])).toEqual(encoder.normalization.std);
  expect(JSON.parse(meta['clsa.image_size'])).toEqual([28, 28]);
  expect(meta['clsa.arch']).toBe('resnet-mini');
  expect(meta['clsa.feature_dim']).toBe(String(encoder.featureDim));
  // Initializers carry the torchvision names and the exact weights (BN as nodes by default).
  const names = g.initializer.map((t) => t.name);
  expect(names).toEqual(expect.arrayContaining(['conv1.weight', 'bn1.running_var', 'layer2.0.downsample.0.weight', 'layer3.0.bn2.bias']));
  expect(g.node.filter((x) => x.opType === 'BatchNormalization').length).toBe(1 + encoderLayout(encoder.config).blocks.reduce((a, b) => a + (b.shortcut ? 3 : 2), 0));
  const w = g.initializer.find((t) => t.name === 'conv1.weight') as onnx.TensorProto;
  expect(w.dims.map(Number)).toEqual([4, 1, 3, 3]);
  const raw = Buffer.from(w.rawData);
  expect(Array.from({ length: 36 }, (_, i) => raw.readFloatLE(4 * i))).toEqual(Array.from(params.subarray(0, 36)));
  encoder.dispose();
});

test('bad arguments are named', async () => {
  const { encoder } = perturbedEncoder({ width: 4, inChannels: 1 }, new Rng(seed ^ 2));
  await expect(encoder.exportOnnx(42 as never)).rejects.toThrow(/file: expected a path for the \.onnx file but got 42/);
  await expect(encoder.exportOnnx(path.join(tmp, 'e.onnx'), { head: 'yes' as never })).rejects.toThrow(/options\.head: expected a boolean but got the string "yes"/);
  await expect(encoder.exportOnnx(path.join(tmp, 'e.onnx'), { heads: true } as never)).rejects.toThrow(/options\.heads: unknown option \(known: head, foldBatchNorm\)/);
  await expect(encoder.exportOnnx(path.join(tmp, 'e.onnx'), null as never)).rejects.toThrow(/options: expected \{ head\?: boolean, foldBatchNorm\?: boolean \} but got null/);
  await expect(encoder.exportOnnx(path.join(tmp, 'no', 'such', 'e.onnx'))).rejects.toThrow(/file: the directory .*no\/such of .* does not exist/);
  expect(fs.existsSync(path.join(tmp, 'e.onnx'))).toBe(false);
  encoder.dispose();
});
