// Fuzzed bad input for the model and the encoder: ClsaModel.create / step / embed / fromState,
// Encoder.embed / save / exportOnnx, loadEncoder, the ONNX encoding, the layout and model
// directories. Failing saves must leave the directory they were pointed at exactly as it was.
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ClsaModel, cosineLr, encodeOnnx, Encoder, encoderLayout, imageStatistics, loadEncoder, loadModelFiles, saveModelFiles, toEncoderInput,
} from '../lib';
import { int, notBool, notObject, notPath, num, oneOf, wrongArray, wrongShape } from './helpers/bad-values';
import { guard } from './helpers/disk';
import { fuzzTarget, Mutate, opt, SEED, slot, Slot, Target } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { tensorSlots } from './helpers/tensor-slots';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-fuzz-model-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CONFIG = { width: 2, projDim: 8, queueSize: 16, inChannels: 1, splitBN: 2, device: 'cpu' as const };
const model = ClsaModel.create(CONFIG);
const norm = { channels: 1, mean: [0.3], std: [0.2] };
const encoder = new Encoder(ClsaModel.create(CONFIG), norm, [8, 8]);
afterAll(() => { model.dispose(); encoder.dispose(); });

const view = (n = 2) => ({ data: new Float32Array(n * 8 * 8).fill(0.25), shape: [n, 1, 8, 8] });
const u8 = (n = 2, c = 1) => ({ data: new Uint8Array(n * 8 * 8 * c).fill(100), shape: [n, 8, 8, c] });

// What the user already had where the failing saves point: a saved encoder, an ONNX file, a
// directory of their own files.
const userArea = path.join(tmp, 'user');
const savedModel = path.join(userArea, 'model'), onnxFile = path.join(userArea, 'encoder.onnx'), ownDir = path.join(userArea, 'mine');
let disk: { check: () => void };
beforeAll(async () => {
  await encoder.save(savedModel);
  await encoder.exportOnnx(onnxFile);
  fs.mkdirSync(ownDir, { recursive: true });
  fs.writeFileSync(path.join(ownDir, 'notes.txt'), 'mine');
  fs.writeFileSync(path.join(userArea, 'file.txt'), 'also mine');
  disk = guard(userArea);
});

const configSlots = (prefix: string, at: (string | number)[]): Slot[] => [
  opt(`${prefix}.arch`, [...at, 'arch'], oneOf(['resnet-mini', 'resnet18'])),
  opt(`${prefix}.width`, [...at, 'width'], int(1, 4096)),
  opt(`${prefix}.depth`, [...at, 'depth'], int(1, 64)),
  opt(`${prefix}.inChannels`, [...at, 'inChannels'], int(1, 64)),
  opt(`${prefix}.projHidden`, [...at, 'projHidden'], int(1, 65536)),
  opt(`${prefix}.projDim`, [...at, 'projDim'], int(1, 65536)),
  opt(`${prefix}.queueSize`, [...at, 'queueSize'], int(1, 2 ** 26)),
  opt(`${prefix}.temperature`, [...at, 'temperature'], num((x) => x > 0, [0])),
  opt(`${prefix}.ddmTemperature`, [...at, 'ddmTemperature'], num((x) => x > 0, [0])),
  opt(`${prefix}.ddmWeight`, [...at, 'ddmWeight'], num((x) => x >= 0)),
  opt(`${prefix}.encoderMomentum`, [...at, 'encoderMomentum'], num((x) => x >= 0 && x <= 1)),
  opt(`${prefix}.lr`, [...at, 'lr'], num((x) => x >= 0)),
  opt(`${prefix}.momentum`, [...at, 'momentum'], num((x) => x >= 0)),
  opt(`${prefix}.weightDecay`, [...at, 'weightDecay'], num((x) => x >= 0)),
  opt(`${prefix}.splitBN`, [...at, 'splitBN'], int(1, 4096)),
  opt(`${prefix}.bnMomentum`, [...at, 'bnMomentum'], num((x) => x >= 0 && x <= 1)),
  opt(`${prefix}.seed`, [...at, 'seed'], int(0, 2 ** 32 - 1)),
  opt(`${prefix}.device`, [...at, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
  opt(`${prefix}.deviceIndex`, [...at, 'deviceIndex'], int(0, 15)),
  opt(`${prefix}.precision`, [...at, 'precision'], oneOf(['fp32', 'tf32', 'bf16', 'fp16'])),
  opt(`${prefix}.symmetric`, [...at, 'symmetric'], notBool),
];

/** Configs of legal fields whose buffers no typed array could hold. */
const HUGE = fc.constantFrom({ width: 4096, depth: 64 }, { projHidden: 65536, projDim: 65536 }, { queueSize: 2 ** 26, projDim: 65536 },
  { arch: 'resnet18', width: 4096 });

const viewNames = ['views.key', 'views.weak[0]', 'views.strong[0]', 'views'];
const viewSlots = (name: string, p: (string | number)[]) =>
  tensorSlots({ name, path: p, shape: [2, 1, 8, 8], minimum: [1, 1, 8, 8], finite: true, shared: [{ dim: 0, names: viewNames }, { dim: 1, names: viewNames }] });

const normSlots = (name: string, p: (string | number)[]): Slot[] => [
  slot(name, p, notObject),
  slot(`${name}.channels`, [...p, 'channels'], fc.oneof(int(1, 64), fc.constant(3)), [`${name}.mean`, `${name}.std`]),
  slot(`${name}.mean`, [...p, 'mean'], fc.oneof(notObject, fc.constant([]), fc.constant([NaN]), fc.constant(['0.3']), fc.constant([0.3, 0.3]))),
  slot(`${name}.std`, [...p, 'std'], fc.oneof(notObject, fc.constant([0]), fc.constant([-1]), fc.constant([Infinity]), fc.constant([0.1, 0.1]))),
];

const targets: [Target, number][] = [
  [{
    name: 'ClsaModel.create', call: (c) => ClsaModel.create(c as never),
    good: () => [{ ...CONFIG }],
    slots: [
      opt('ClsaModel.create(config)', [0], notObject),
      ...configSlots('config', [0]),
      slot('config.widht', [0, 'widht'], fc.constant(4)),
      slot('config', [0], HUGE.map((h) => ({ ...CONFIG, ...h })), ['config.width', 'config.projHidden', 'config.queueSize']),
    ],
  }, 600],
  [{
    name: 'model.step', call: (v, o) => model.step(v as never, o as never),
    good: () => [{ key: view(), weak: [view()], strong: [view()] }, {}],
    after: () => expect(model.steps).toBe(0),
    slots: [
      slot('step(views)', [0], notObject, ['views']),
      ...viewSlots('views.key', [0, 'key']),
      slot('views.weak', [0, 'weak'], fc.oneof(notObject, fc.constant([]))),
      ...viewSlots('views.weak[0]', [0, 'weak', 0]),
      opt('views.strong', [0, 'strong'], fc.oneof(notObject, fc.constant({}))),
      ...viewSlots('views.strong[0]', [0, 'strong', 0]),
      opt('step(options)', [1], notObject, ['options']),
      opt('step(options.lr)', [1, 'lr'], num((x) => x >= 0), ['options.lr']),
    ],
  }, 800],
  [{
    name: 'model.embed', call: (im) => model.embed(im as never),
    good: () => [view(3)],
    slots: tensorSlots({ name: 'images', path: [0], shape: [3, 1, 8, 8], minimum: [1, 1, 8, 8], finite: true, shared: [{ dim: 1, names: ['images'] }] }),
  }, 300],
  [{
    name: 'ClsaModel.fromState', call: (s, o) => ClsaModel.fromState(s as never, o as never).dispose(),
    good: () => [model.state(), {}],
    slots: [
      slot('ClsaModel.fromState(state)', [0], notObject, ['state']),
      slot('state.config', [0, 'config'], notObject),
      ...configSlots('state.config', [0, 'config']).filter((s) => !/device|precision/.test(s.names[0])),
      slot('state.config', [0, 'config', 'width'], fc.constant(4), ['state.buffers']),
      slot('state.buffers', [0, 'buffers'], notObject),
      slot('state.buffers.query_params', [0, 'buffers', 'query_params'], fc.oneof(wrongArray('Float32Array', 10), fc.constant(new Float32Array(3)))),
      slot('state.buffers.queue', [0, 'buffers', 'queue'], fc.constant(undefined)),
      slot('state.queuePointer', [0, 'queuePointer'], int(0, 15)),
      slot('state.step', [0, 'step'], int(0)),
      slot('state.rng', [0, 'rng'], fc.oneof(notObject, fc.constant([1, 2, 3]), fc.constant([1, 2, 3, -4]), fc.constant([1, 2, 3, 2 ** 32]), fc.constant([1, 2, 3, 0.5]))),
      opt('ClsaModel.fromState(state, options)', [1], notObject, ['options']),
      opt('options.device', [1, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
      opt('options.deviceIndex', [1, 'deviceIndex'], int(0, 15)),
      opt('options.precision', [1, 'precision'], oneOf(['fp32', 'tf32', 'bf16', 'fp16'])),
    ],
  }, 500],
  [{
    name: 'cosineLr', call: (b, p) => cosineLr(b as never, p as never),
    good: () => [0.1, 0.5],
    slots: [slot('baseLr', [0], num((x) => x >= 0)), slot('progress', [1], num((x) => x >= 0 && x <= 1, [1.5, -0.1]))],
  }, 200],
  [{
    name: 'encoder.embed', call: (im, o) => encoder.embed(im as never, o as never),
    good: () => [u8(3), {}],
    slots: [
      ...tensorSlots({ name: 'images', path: [0], shape: [3, 8, 8, 1], minimum: [1, 8, 8, 1], kind: 'Uint8Array' }),
      slot('images.shape[3] (C)', [0], fc.constant(u8(3, 3)), ['images.shape[3]']),
      opt('options', [1], notObject),
      opt('options.batch', [1, 'batch'], int(1)),
    ],
  }, 400],
  [{
    name: 'toEncoderInput', call: (im, n) => toEncoderInput(im as never, n as never),
    good: () => [u8(2), { ...norm, mean: [...norm.mean], std: [...norm.std] }],
    slots: [
      ...tensorSlots({ name: 'images', path: [0], shape: [2, 8, 8, 1], minimum: [1, 8, 8, 1], kind: 'Uint8Array' }),
      ...normSlots('norm', [1]),
    ],
  }, 300],
  [{
    name: 'imageStatistics', call: (im) => imageStatistics(im as never),
    good: () => [u8(2)],
    slots: tensorSlots({ name: 'images', path: [0], shape: [2, 8, 8, 1], kind: 'Uint8Array' }),
  }, 200],
  [{
    name: 'loadEncoder', call: (d, o) => loadEncoder(d as never, o as never),
    good: () => [savedModel, {}],
    after: () => disk.check(),
    slots: [
      slot('dir', [0], fc.oneof(notPath, fc.constant(path.join(tmp, 'nowhere')), fc.constant(path.join(userArea, 'file.txt')), fc.constant(ownDir))),
      opt('loadEncoder(dir, options)', [1], notObject, ['options']),
      opt('options.device', [1, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
      opt('options.deviceIndex', [1, 'deviceIndex'], int(0, 15)),
    ],
  }, 300],
  [{
    name: 'encoder.save', call: (d) => encoder.save(d as never),
    good: () => [savedModel],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(path.join(userArea, 'file.txt')), fc.constant(ownDir), fc.constant(userArea)))],
  }, 200],
  [{
    name: 'encoder.exportOnnx', call: (f, o) => encoder.exportOnnx(f as never, o as never),
    good: () => [onnxFile, {}],
    after: () => disk.check(),
    slots: [
      slot('file', [0], fc.oneof(notPath, fc.constant(path.join(tmp, 'no', 'such', 'dir', 'x.onnx')), fc.constant(ownDir))),
      opt('options', [1], fc.oneof(notObject, fc.constant([]))),
      opt('options.head', [1, 'head'], notBool),
      opt('options.foldBatchNorm', [1, 'foldBatchNorm'], notBool),
      slot('options.fold', [1, 'fold'], fc.constant(true)),
    ],
  }, 300],
  [{
    name: 'encodeOnnx', call: (src, o) => encodeOnnx(src as never, o as never),
    good: () => {
      const st = model.state();
      return [{ config: { ...model.config }, params: st.buffers.query_params, stats: st.buffers.query_bn_stats, normalization: { ...norm }, imageSize: [8, 8] }, {}];
    },
    slots: [
      slot('src', [0], notObject),
      slot('src.config', [0, 'config'], notObject),
      slot('src.config.width', [0, 'config', 'width'], fc.oneof(int(1, 4096), fc.constant(3)), ['src.params']),
      slot('src.config.arch', [0, 'config', 'arch'], oneOf(['resnet-mini', 'resnet18'])),
      slot('src.params', [0, 'params'], fc.oneof(wrongArray('Float32Array', 10), fc.constant(new Float32Array(5)))),
      slot('src.stats', [0, 'stats'], fc.oneof(wrongArray('Float32Array', 10), fc.constant(new Float32Array(5)))),
      slot('src.params', [0, 'params'], fc.constant(new Mutate('a NaN weight', (o) => { const c = (o as Float32Array).slice(); c[3] = NaN; return c; }))),
      ...normSlots('src.normalization', [0, 'normalization']),
      slot('src.imageSize', [0, 'imageSize'], fc.oneof(notObject, fc.constant([8]), fc.constant([4, 8]), fc.constant([8, 'x']))),
      opt('options', [1], notObject),
      opt('options.head', [1, 'head'], notBool),
    ],
  }, 300],
  [{
    name: 'encoderLayout', call: (c) => encoderLayout(c as never),
    good: () => [{ arch: 'resnet-mini', width: 4, depth: 1, inChannels: 1, projHidden: 16, projDim: 8 }],
    slots: [
      slot('config', [0], notObject),
      slot('config.arch', [0, 'arch'], oneOf(['resnet-mini', 'resnet18'])),
      slot('config.width', [0, 'width'], int(1, 4096)),
      slot('config.depth', [0, 'depth'], int(1, 64)),
      slot('config.inChannels', [0, 'inChannels'], int(1, 64)),
      slot('config.projHidden', [0, 'projHidden'], int(1, 65536)),
      slot('config.projDim', [0, 'projDim'], int(1, 65536)),
    ],
  }, 300],
  [{
    name: 'saveModelFiles', call: (d, m, e) => saveModelFiles(d as never, m as never, e as never),
    good: () => [savedModel, { config: { a: 1 }, tensors: { w: { dtype: 'F32', shape: [2], data: new Float32Array(2) } }, metadata: { k: 'v' } }, {}],
    after: () => disk.check(),
    slots: [
      slot('dir', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(userArea, 'file.txt')))),
      slot('model', [1], notObject, ['model.config']),
      slot('model.config', [1, 'config'], fc.oneof(notObject, fc.constant([]), fc.constant({ big: 1n }))),
      slot('tensors', [1, 'tensors'], notObject),
      slot('tensors["w"]', [1, 'tensors', 'w'], notObject),
      slot('tensors["w"].dtype', [1, 'tensors', 'w', 'dtype'], oneOf(['F32', 'F64', 'I32'])),
      slot('tensors["w"].shape', [1, 'tensors', 'w', 'shape'], wrongShape([2]), ['tensors["w"].data']),
      slot('tensors["w"].data', [1, 'tensors', 'w', 'data'], wrongArray('Float32Array', 2)),
      opt('metadata', [1, 'metadata'], fc.oneof(notObject, fc.constant({ k: 1 }))),
      opt('extra', [2], fc.oneof(notObject, fc.constant([]), fc.constant({ '../up': 'x' }), fc.constant({ 'config.json': 'x' }), fc.constant({ '.hidden': 'x' }), fc.constant({ ok: 5 }))),
    ],
  }, 400],
  [{
    name: 'loadModelFiles', call: (d) => loadModelFiles(d as never),
    good: () => [savedModel],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(path.join(tmp, 'nowhere')), fc.constant(ownDir), fc.constant(path.join(userArea, 'file.txt'))))],
  }, 200],
];

describe(`fuzzed bad input to the model and the encoder (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} cases, each a typed error naming the argument`, () => fuzzTarget(t, runs), 60000);
});
