// Fuzzed bad input for the pipeline: trainClsa (every option; a case that got through would train
// one epoch of 16 tiny images and be reported as a success), scorecard, embeddings and search. A
// failing call pointed at the user's checkpoint, embeddings or index must leave them as they were.
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ClsaModel, embedDataset, embeddingFiles, embedToNpy, Encoder, scorecard, SearchIndex, trainClsa, writeEmbeddings,
} from '../lib';
import { int, notBool, notFunction, notObject, notPath, num, oneOf, wrongArray } from './helpers/bad-values';
import { guard } from './helpers/disk';
import { fuzzTarget, opt, Path, SEED, slot, Slot, Target } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { side, tiny } from './helpers/tiny-data';
import { tensorSlots } from './helpers/tensor-slots';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-fuzz-pipeline-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const user = path.join(tmp, 'user'), ownDir = path.join(user, 'mine'), missing = path.join(tmp, 'nowhere');
const checkpoint = path.join(user, 'checkpoint'), index = path.join(user, 'index'), feats = path.join(user, 'feats.npy');

const dataset = (n: number, seed: number) => ({ ...tiny(n, seed), source: `memory ${seed}` });
const encoder = new Encoder(ClsaModel.create({ width: 2, projDim: 8, queueSize: 16, inChannels: 1, device: 'cpu' }), { channels: 1, mean: [0.5], std: [0.25] }, [side, side]);
afterAll(() => encoder.dispose());

const train = () => ({
  data: { train: tiny(16, 1) }, epochs: 1, batchSize: 8, width: 2, projDim: 8, queueSize: 16, evaluate: false as const, device: 'cpu' as const,
});
let disk: { check: () => void };
beforeAll(async () => {
  fs.mkdirSync(ownDir, { recursive: true });
  fs.writeFileSync(path.join(ownDir, 'notes.txt'), 'mine');
  // OUT.json of OUT = clash.npy is a directory: a write of the set must fail before any file of it is replaced.
  fs.mkdirSync(path.join(user, 'clash.json'));
  fs.writeFileSync(path.join(user, 'clash.npy'), 'older features');
  await trainClsa({ ...train(), checkpoint: { dir: checkpoint } }).then((r) => r.encoder.dispose());
  await embedToNpy(encoder, tiny(6, 2), feats);
  await (await SearchIndex.build(encoder, tiny(6, 3))).save(index);
  disk = guard(user);
});

const badPair = fc.oneof(notObject, fc.constant([0.5]), fc.constant([0.9, 0.3]), fc.constant([0, 1]), fc.constant([NaN, 1]));
const notSignal = fc.oneof(notObject, fc.constant({}), fc.constant({ aborted: 'no' }));
const badSource = fc.oneof(fc.integer(), fc.constant(''), fc.constant(missing), fc.constant({}), fc.constant({ images: { data: new Uint8Array(3), shape: [1, 8, 8, 1] } }));

const o = (...k: (string | number)[]): Path => [0, ...k];
/** Not null: inside a hand-built option object null would mean 'absent' and take the default. */
const given = (v: unknown) => v !== null;
const trainSlots: Slot[] = [
  opt('options', [0], notObject),
  slot('options.epoch', o('epoch'), fc.constant(3)),
  opt('options.preset', o('preset'), oneOf(['quick', 'cpu-long', 'gpu'])),
  opt('options.data', o('data'), badSource),
  opt('options.load', o('load'), fc.oneof(fc.integer(), fc.constant('x'))),
  opt('options.load.size', o('load'), fc.constant({ size: 0 }), ['options.size']),
  // false is legal here (no validation split).
  opt('options.validation', o('validation'), fc.oneof(num((x) => x > 0 && (x < 1 || (Number.isInteger(x) && x < 16)), [16, 1.5]), fc.constant(true)).filter((v) => v !== false)),
  opt('options.validationRows', o('validationRows'), oneOf(['stratified', 'last'])),
  opt('options.splitSeed', o('splitSeed'), int(0, 2 ** 32 - 1)),
  // Not a missing path: with evaluate false (as here) evalData is not read, and a resumed run
  // switches the monitor off that way while keeping its recorded options.
  opt('options.evalData', o('evalData'), fc.oneof(fc.integer(), fc.constant(true))),
  opt('options.limit', o('limit'), int(1)),
  opt('options.arch', o('arch'), oneOf(['resnet-mini', 'resnet18'])),
  opt('options.width', o('width'), int(1, 4096)),
  opt('options.depth', o('depth'), int(1, 64)),
  opt('options.projHidden', o('projHidden'), int(1, 65536)),
  opt('options.projDim', o('projDim'), int(1, 65536)),
  opt('options.epochs', o('epochs'), int(1, 1e6)),
  opt('options.batchSize', o('batchSize'), fc.oneof(int(1, 16), fc.constantFrom(12, 32))),
  opt('options.lr', o('lr'), num((x) => x > 0, [0])),
  opt('options.warmupEpochs', o('warmupEpochs'), num((x) => x >= 0 && x <= 1, [2])),
  opt('options.weightDecay', o('weightDecay'), num((x) => x >= 0)),
  opt('options.momentum', o('momentum'), num((x) => x >= 0)),
  opt('options.encoderMomentum', o('encoderMomentum'), num((x) => x >= 0 && x <= 1)),
  opt('options.queueSize', o('queueSize'), int(1, 1 << 26)),
  opt('options.temperature', o('temperature'), num((x) => x > 0, [0])),
  opt('options.ddmTemperature', o('ddmTemperature'), num((x) => x > 0, [0])),
  opt('options.ddmWeight', o('ddmWeight'), num((x) => x >= 0)),
  opt('options.crops', o('crops'), fc.oneof(fc.integer(), fc.constant('double'), fc.constant({ key: { size: 8 } }), fc.constant({ relativeTo: 'image', key: { size: 2 }, weak: [{ size: 1 }], strong: [] }))),
  opt('options.symmetric', o('symmetric'), notBool),
  opt('options.weakScale', o('weakScale'), badPair),
  opt('options.augment', o('augment'), fc.oneof(fc.integer(), fc.constant('x'), fc.constant({ jitter: { hue: 2 } }), fc.constant({ flip: -1 }), fc.constant({ mean: [0.1, 0.2] }))),
  opt('options.splitBN', o('splitBN'), fc.oneof(int(1, 4096), fc.constant(3)), ['options.batchSize']),
  opt('options.device', o('device'), oneOf(['auto', 'cpu', 'cuda'])),
  opt('options.deviceIndex', o('deviceIndex'), int(0, 15)),
  opt('options.precision', o('precision'), oneOf(['fp32', 'tf32', 'bf16', 'fp16'])),
  opt('options.seed', o('seed'), int(0, 2 ** 32 - 1)),
  opt('options.signal', o('signal'), notSignal),
  opt('options.onProgress', o('onProgress'), notFunction),
  opt('options.onEpochEnd', o('onEpochEnd'), notFunction),
  opt('options.checkpoint', o('checkpoint'), fc.oneof(fc.integer(), fc.constant('dir'), fc.constant({ dir: 5 }), fc.constant({ dir: '' }))),
  slot('options.checkpoint.dir', o('checkpoint'), fc.constantFrom({ dir: ownDir }, { dir: user }, { dir: path.join(ownDir, 'notes.txt') })),
  slot('options.checkpoint.every', o('checkpoint'), int(1).filter(given).map((every) => ({ dir: checkpoint, every }))),
  slot('options.checkpoint.onAbort', o('checkpoint'), notBool.filter(given).map((onAbort) => ({ dir: checkpoint, onAbort }))),
  slot('options.checkpoint.evry', o('checkpoint'), fc.constant({ dir: checkpoint, evry: 2 })),
  opt('options.resume', o('resume'), fc.oneof(fc.integer(), fc.constant(''), fc.constant(missing), fc.constant(ownDir))),
  opt('options.forceResume', o('forceResume'), notBool),
  opt('options.evaluate', o('evaluate'), fc.oneof(fc.integer(), fc.constant('x'), fc.constant(true))),
  slot('options.evaluate.every', o('evaluate'), int(1).filter(given).map((every) => ({ every }))),
  slot('options.evaluate.k', o('evaluate'), int(1).filter(given).map((k) => ({ k }))),
  slot('options.evaluate.t', o('evaluate'), num((x) => x > 0).filter(given).map((t) => ({ t }))),
  slot('options.evaluate.form', o('evaluate'), oneOf(['raw', 'centred', 'standardised']).filter(given).map((form) => ({ form }))),
];

const scorecardSlots = (): Slot[] => [
  opt('encoder', [0], fc.oneof(fc.integer(), fc.constant({}), fc.constant('enc'))),
  slot('bank', [1], notObject),
  ...tensorSlots({ name: 'bank.images', path: [1, 'images'], shape: [10, side, side, 1], kind: 'Uint8Array' }).slice(0, 4),
  slot('bank.labels', [1, 'labels'], fc.oneof(fc.constant(undefined), wrongArray('Int32Array', 10), fc.constant(new Int32Array(9)))),
  slot('query', [2], notObject),
  slot('query.labels', [2, 'labels'], fc.oneof(fc.constant(undefined), fc.constant(new Int32Array(4).fill(-1)))),
  slot('query.shape', [2, 'images'], fc.constant({ data: new Uint8Array(4 * 100), shape: [4, 10, 10, 1] }), ['query.images', 'bank.images']),
  opt('options', [3], notObject),
  opt('options.k', [3, 'k'], int(1)),
  opt('options.t', [3, 't'], num((x) => x > 0)),
  opt('options.form', [3, 'form'], oneOf(['raw', 'centred', 'standardised'])),
  opt('options.linear', [3, 'linear'], notBool),
  opt('options.split', [3, 'split'], fc.oneof(fc.integer(), fc.constant({}))),
  opt('options.randomInit', [3, 'randomInit'], fc.oneof(fc.integer(), fc.constant({ width: 0 }), fc.constant({ arch: 'vgg' }), fc.constant({ widht: 2 }))),
  opt('options.signal', [3, 'signal'], notSignal),
];

const embOptionSlots = (p: number): Slot[] => [
  opt('options', [p], notObject),
  opt('options.split', [p, 'split'], oneOf(['train', 'test'])),
  opt('options.size', [p, 'size'], int(8, 4096)),
  opt('options.channels', [p, 'channels'], fc.constantFrom(0, 2, '1')),
  opt('options.batch', [p, 'batch'], int(1)),
];

const embeddings = () => ({ features: { data: new Float32Array(6 * 4).fill(0.5), shape: [6, 4] }, labels: new Int32Array(6), source: 'm', split: 'train' });
const indexOf = () => SearchIndex.fromEmbeddings({ features: { data: Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)), shape: [6, 4] }, source: 'm', split: 'train' }, encoder.digest());

const targets: [Target, number][] = [
  [{ name: 'trainClsa', call: (opts) => trainClsa(opts as never), good: () => [train()], after: () => disk.check(), slots: trainSlots }, 1200],
  [{
    name: 'scorecard', call: (e, b, q, opts) => scorecard(e as never, b as never, q as never, opts as never),
    good: () => [encoder, dataset(10, 4), dataset(4, 5), { k: 3 }],
    slots: scorecardSlots(),
  }, 500],
  [{
    name: 'embedDataset', call: (e, s, opts) => embedDataset(e as never, s as never, opts as never),
    good: () => [encoder, tiny(4, 6), {}],
    slots: [slot('encoder', [0], fc.oneof(notObject, fc.constant({}))), slot('source', [1], badSource), ...embOptionSlots(2)],
  }, 400],
  [{
    name: 'embedToNpy', call: (e, s, f, opts) => embedToNpy(e as never, s as never, f as never, opts as never),
    good: () => [encoder, tiny(4, 6), feats, {}],
    after: () => disk.check(),
    slots: [slot('encoder', [0], fc.oneof(notObject, fc.constant({}))), slot('source', [1], badSource),
      slot('file', [2], fc.oneof(notPath, fc.constant(path.join(user, 'x.txt')), fc.constant(path.join(missing, 'f.npy')), fc.constant(path.join(user, 'clash.npy')))),
      ...embOptionSlots(3)],
  }, 400],
  [{
    name: 'writeEmbeddings', call: (f, e, a) => writeEmbeddings(f as never, e as never, a as never),
    good: () => [feats, embeddings(), {}],
    after: () => disk.check(),
    slots: [
      slot('file', [0], fc.oneof(notPath, fc.constant(path.join(user, 'x.txt')), fc.constant(path.join(missing, 'f.npy')), fc.constant(path.join(user, 'clash.npy')))),
      slot('emb', [1], notObject),
      ...tensorSlots({ name: 'emb.features', path: [1, 'features'], shape: [6, 4] }).slice(0, 4),
      opt('emb.labels', [1, 'labels'], fc.oneof(wrongArray('Int32Array', 6), fc.constant(new Int32Array(5)))),
      slot('emb.source', [1, 'source'], fc.oneof(fc.integer(), fc.constant(null))),
      slot('emb.split', [1, 'split'], oneOf(['train', 'test'])),
      opt('emb.classes', [1, 'classes'], fc.oneof(fc.integer(), fc.constant([1]))),
      opt('emb.files', [1, 'files'], fc.oneof(fc.integer(), fc.constant(['a']))),
      opt('about', [2], fc.oneof(notObject, fc.constant([]), fc.constant({ big: 1n }), fc.constant({ features: 'overridden' }))),
    ],
  }, 400],
  [{ name: 'embeddingFiles', call: (f) => embeddingFiles(f as never), good: () => ['x.npy'], slots: [slot('file', [0], fc.oneof(notPath, fc.constant('x.txt'), fc.constant('.npy')))] }, 100],
  [{
    name: 'SearchIndex.build', call: (e, s, opts) => SearchIndex.build(e as never, s as never, opts as never),
    good: () => [encoder, tiny(4, 7), {}],
    slots: [slot('encoder', [0], fc.oneof(notObject, fc.constant({}))), slot('source', [1], badSource), ...embOptionSlots(2)],
  }, 300],
  [{
    name: 'SearchIndex.fromEmbeddings', call: (e, d) => SearchIndex.fromEmbeddings(e as never, d as never),
    good: () => [embeddings(), encoder.digest()],
    slots: [slot('emb', [0], notObject), ...tensorSlots({ name: 'emb.features', path: [0, 'features'], shape: [6, 4], finite: true }).slice(0, 5),
      opt('emb.labels', [0, 'labels'], fc.oneof(wrongArray('Int32Array', 6), fc.constant(new Int32Array(7)))),
      slot('encoderDigest', [1], fc.oneof(notPath, fc.constant('abc')))],
  }, 300],
  [{ name: 'SearchIndex.load', call: (d) => SearchIndex.load(d as never), good: () => [index], slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(missing), fc.constant(ownDir), fc.constant(feats)))] }, 100],
  [{
    name: 'index.save', call: (d) => indexOf().save(d as never),
    good: () => [index],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(user), fc.constant(feats)))],
  }, 200],
  [{
    name: 'index.search', call: (e, q, k, opts) => indexOf().search(e as never, q as never, k as never, opts as never),
    good: () => [encoder, tiny(2, 8), 3, {}],
    slots: [slot('encoder', [0], fc.oneof(notObject, fc.constant({}))), slot('queries', [1], badSource, ['source']), slot('k', [2], int(1, 6)), ...embOptionSlots(3)],
  }, 300],
  [{
    name: 'index.searchFeatures', call: (q, k, a) => indexOf().searchFeatures(q as never, k as never, a as never),
    good: () => [{ data: new Float32Array(8).fill(0.3), shape: [2, 4] }, 2, {}],
    slots: [...tensorSlots({ name: 'queries', path: [0], shape: [2, 4], finite: true, shared: [{ dim: 1, names: ['queries'] }] }),
      slot('k', [1], int(1, 6)), opt('about', [2], notObject), opt('about.labels', [2, 'labels'], fc.oneof(wrongArray('Int32Array', 2), fc.constant(new Int32Array(1)))),
      opt('about.files', [2, 'files'], fc.oneof(fc.integer(), fc.constant(['a']))), opt('about.classes', [2, 'classes'], fc.oneof(fc.integer(), fc.constant([1])))],
  }, 300],
  [{ name: 'index.checkEncoder', call: (e) => indexOf().checkEncoder(e as never), good: () => [encoder], slots: [slot('encoder', [0], fc.oneof(notObject, fc.constant({})))] }, 100],
];

describe(`fuzzed bad input to training, scoring, embeddings and search (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} cases, each a typed error naming the argument`, () => fuzzTarget(t, runs), 120000);
});
