// Fuzzed bad input for the data side: loading (memory, paths, IDX), splits, overlap checks, pixel
// baselines and forms, the file formats' encoders and decoders (npy, safetensors, IDX), the atomic
// writers, metrics and reports, and the small schedule and seed helpers.
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  appendLineSync, appendMetrics, assertDisjoint, choosePixelForm, decodeNpy, decodeSafetensors, defaultQueueSize, encodeIdx, encodeNpy,
  encodeSafetensors, epochLr, formatScorecard, hasIdx, holdOut, imagesToFeatures, inForm, loadDataset, loadIdxPair, loadImageFiles, parseIdx,
  permutation, pixelBaselines, pixelFeatures, pixelForms, rawPixelBaseline, readIdx, readMetrics, readNpy, readSafetensors, recipeOptions,
  renderReport, resolveFashionMnist, Rng, scheduledLr, setCpuThreads, sharedImages, sliceDataset, stratifiedRows, stratifiedSplit,
  stratifiedSubset, takeRows, validationCount, validationSplit, writeDirAtomic, writeFileAtomic, writeFileAtomicSync, writeNpy, writeReport,
  writeSafetensors,
} from '../lib';
import { int, notBool, notFunction, notNumber, notObject, notPath, num, oneOf, wrongArray, wrongShape } from './helpers/bad-values';
import { guard } from './helpers/disk';
import { fuzzTarget, opt, Path, SEED, slot, Slot, Target } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { tensorSlots } from './helpers/tensor-slots';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-fuzz-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
// What the user had: a file, a folder of their own, an older report and metrics log.
const user = path.join(tmp, 'user'), aFile = path.join(user, 'a.txt'), ownDir = path.join(user, 'mine'), missing = path.join(tmp, 'nowhere');
fs.mkdirSync(ownDir, { recursive: true });
fs.writeFileSync(aFile, 'mine');
fs.writeFileSync(path.join(ownDir, 'report.html'), '<p>older</p>');
fs.writeFileSync(path.join(ownDir, 'metrics.jsonl'), '{"epoch":1}\n');
const disk = guard(user);
const badPath = fc.oneof(notPath, fc.constant(missing));

const N = 12;
const images = (n = N, side = 4) => ({ data: new Uint8Array(n * side * side).map((_, i) => (i * 29 + (i >> 4) * 7) & 255), shape: [n, side, side, 1] });
const labels = (n = N) => Int32Array.from({ length: n }, (_, i) => i % 3);
const dataset = (n = N) => ({ images: images(n), labels: labels(n), source: 'memory' });
const floats = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1));

/** Every way to spoil a Dataset at `p` named `name`. */
function datasetSlots(name: string, p: Path, n = N, labelled = true): Slot[] {
  return [
    slot(name, p, notObject),
    ...tensorSlots({ name: `${name}.images`, path: [...p, 'images'], shape: [n, 4, 4, 1], kind: 'Uint8Array' }),
    (labelled ? slot : opt)(`${name}.labels`, [...p, 'labels'], fc.oneof(wrongArray('Int32Array', n), fc.constant(new Int32Array(n - 1)),
      fc.constant(Int32Array.from({ length: n }, (_, i) => (i === 2 ? -3 : 0))))),
    opt(`${name}.source`, [...p, 'source'], fc.oneof(fc.integer(), fc.constant({}))),
    opt(`${name}.files`, [...p, 'files'], fc.oneof(fc.integer(), fc.constant(['a']))),
    opt(`${name}.classes`, [...p, 'classes'], fc.oneof(fc.integer(), fc.constant([1, 2]))),
  ];
}

const memorySlots = (p: Path, name = 'source'): Slot[] => [
  ...tensorSlots({ name: `${name}.images`, path: [...p, 'images'], shape: [N, 4, 4, 1], kind: 'Uint8Array' }).slice(1),
  opt(`${name}.labels`, [...p, 'labels'], fc.oneof(wrongArray('Int32Array', N), fc.constant(new Int32Array(N + 1)), fc.constant(new Int32Array(N).fill(-1)))),
  opt(`${name}.classes`, [...p, 'classes'], fc.oneof(fc.integer(), fc.constant([1]))),
];

const npy = () => ({ data: floats(6), shape: [2, 3] });
/** An npy array takes float32 or int32 data: every slot of a tensor but the data types those are. */
const npySlots = (p: Path): Slot[] => [
  ...tensorSlots({ name: 'array', path: p, shape: [2, 3], minimum: [0, 0] }).slice(0, 2),
  slot('array.data', [...p, 'data'], fc.oneof(wrongArray('Float32Array', 6).filter((v) => !(v instanceof Int32Array)), fc.constant(floats(5)))),
];
const safetensors = () => ({ w: { dtype: 'F32', shape: [2, 3], data: floats(6) }, i: { dtype: 'I32', shape: [2], data: new Int32Array(2) } });
const tensorFieldSlots = (p: Path): Slot[] => [
  slot('tensors', p, fc.oneof(notObject, fc.constant([]))),
  slot('tensors["w"]', [...p, 'w'], notObject),
  slot('tensors["w"].dtype', [...p, 'w', 'dtype'], oneOf(['F32'])),
  slot('tensors["w"].shape', [...p, 'w', 'shape'], wrongShape([2, 3], [0, 0]), ['tensors["w"].data']),
  slot('tensors["w"].data', [...p, 'w', 'data'], fc.oneof(wrongArray('Float32Array', 6), fc.constant(new Float32Array(5)))),
  slot('tensors["__metadata__"]', [...p, '__metadata__'], fc.constant({ dtype: 'F32', shape: [1], data: new Float32Array(1) }), ['tensors']),
];

const idxBytes = () => encodeIdx([3, 2, 2], new Uint8Array(12).fill(7));
fs.writeFileSync(path.join(tmp, 'im.idx'), idxBytes());
fs.writeFileSync(path.join(tmp, 'lb.idx'), encodeIdx([3], new Uint8Array([0, 1, 2])));
fs.writeFileSync(path.join(tmp, 'x.npy'), Buffer.concat(encodeNpy(npy())));
fs.writeFileSync(path.join(tmp, 'x.safetensors'), encodeSafetensors(safetensors() as never));

const scorecardResult = () => ({
  split: 'test', bankSize: 10, querySize: 5, k: 3, t: 0.1, form: 'standardised',
  pixels: { knn: { raw: 0.5, centred: 0.5, standardised: 0.5 }, best: { name: 'raw', accuracy: 0.5 }, selection: { heldOut: 2, knn: { raw: 0.5, centred: 0.5, standardised: 0.5 } } },
});

const targets: [Target, number][] = [
  [{
    name: 'loadDataset', call: (s, o) => loadDataset(s as never, o as never),
    good: () => [{ images: images(), labels: labels() }, {}],
    slots: [
      slot('source', [0], fc.oneof(fc.integer(), fc.constant(null), fc.constant(''), fc.constant(missing), fc.constant(aFile), fc.constant({}), fc.constant([]))),
      ...memorySlots([0]),
      slot('source.test', [0], fc.constant({ train: { images: images(), labels: labels() }, test: 5 })),
      slot('source.train', [0], fc.constant({ train: { images: 'x' } })),
      opt('options', [1], notObject),
      opt('options.split', [1, 'split'], oneOf(['train', 'test'])),
      // false is legal here (no test split).
      opt('options.holdOut', [1, 'holdOut'], fc.oneof(num((x) => x > 0 && (x < 1 || Number.isInteger(x)), [1.5, 0, -1]), fc.constant(true)).filter((v) => v !== false)),
      opt('options.splitSeed', [1, 'splitSeed'], int(0, 2 ** 32 - 1)),
      opt('options.size', [1, 'size'], int(1, 4096)),
      opt('options.channels', [1, 'channels'], fc.constantFrom(0, 2, 4, '3', 1.5, true)),
      opt('options.cacheDir', [1, 'cacheDir'], fc.oneof(fc.integer(), fc.constant(''), fc.constant(true), fc.constant({}))),
      opt('options.fashionMnistDirs', [1, 'fashionMnistDirs'], fc.oneof(notObject, fc.constant([1]))),
    ],
  }, 800],
  [{
    name: 'loadIdxPair', call: (a, b) => loadIdxPair(a as never, b as never),
    good: () => [path.join(tmp, 'im.idx'), path.join(tmp, 'lb.idx')],
    slots: [slot('imagesFile', [0], badPath), opt('labelsFile', [1], badPath), slot('labelsFile', [1], fc.constant(path.join(tmp, 'im.idx')), [path.join(tmp, 'im.idx')])],
  }, 200],
  [{
    name: 'readIdx', call: (f, d) => readIdx(f as never, d as never),
    good: () => [path.join(tmp, 'im.idx'), undefined],
    slots: [slot('file', [0], badPath), opt('expectDims', [1], fc.oneof(int(1, 255), fc.constant(2)), [path.join(tmp, 'im.idx')])],
  }, 200],
  [{
    name: 'parseIdx', call: (b, s, d) => parseIdx(b as never, s as never, d as never),
    good: () => [idxBytes(), 'bytes', undefined],
    slots: [slot('buf', [0], wrongArray('Uint8Array', 28)), opt('source', [1], fc.oneof(fc.integer(), fc.constant({}))), opt('expectDims', [2], int(1, 255), ['bytes'])],
  }, 200],
  [{
    name: 'encodeIdx', call: (d, x) => encodeIdx(d as never, x as never),
    good: () => [[3, 2], new Uint8Array(6)],
    slots: [slot('dims', [0], fc.oneof(notObject, fc.constant([]), fc.constant([3, -2]), fc.constant([3, 2.5]), fc.constant([2 ** 32, 1]), fc.constant(new Array(256).fill(1))), ['data']),
      slot('data', [1], fc.oneof(wrongArray('Uint8Array', 6), fc.constant(new Uint8Array(5))))],
  }, 200],
  [{
    name: 'hasIdx', call: (d, s) => hasIdx(d as never, s as never),
    good: () => [tmp, 'train'],
    slots: [slot('dir', [0], notPath), opt('split', [1], oneOf(['train', 'test']))],
  }, 100],
  [{
    name: 'resolveFashionMnist', call: (d, s) => resolveFashionMnist(d as never, s as never),
    good: () => [[], undefined],
    slots: [opt('dirs', [0], fc.oneof(notObject, fc.constant([3]))), opt('subsetDir', [1], fc.oneof(fc.integer(), fc.constant({})))],
  }, 100],
  [{
    name: 'imagesToFeatures', call: (im) => imagesToFeatures(im as never),
    good: () => [images()],
    slots: tensorSlots({ name: 'images', path: [0], shape: [N, 4, 4, 1], minimum: [0, 1, 1, 1], kind: 'Uint8Array' }),
  }, 200],
  [{
    name: 'loadImageFiles', call: (f, o) => loadImageFiles(f as never, o as never),
    good: () => [[aFile], {}],
    slots: [slot('files', [0], fc.oneof(notObject, fc.constant([]), fc.constant([3]), fc.constant([missing]))),
      opt('options', [1], notObject), opt('options.size', [1, 'size'], int(1, 4096)), opt('options.channels', [1, 'channels'], fc.constantFrom(0, 2, '1'))],
  }, 200],
  [{
    name: 'sharedImages', call: (a, b, e) => sharedImages(a as never, b as never, e as never),
    good: () => [images(), images(3), 3],
    slots: [...tensorSlots({ name: 'a', path: [0], shape: [N, 4, 4, 1], minimum: [0, 1, 1, 1], kind: 'Uint8Array' }),
      ...tensorSlots({ name: 'b', path: [1], shape: [3, 4, 4, 1], minimum: [0, 1, 1, 1], kind: 'Uint8Array' }), opt('examples', [2], int(0))],
  }, 300],
  [{
    name: 'assertDisjoint', call: (a, an, b, bn) => assertDisjoint(a as never, an as never, b as never, bn as never),
    good: () => [dataset(), 'the bank', { ...dataset(3), images: { data: new Uint8Array(48).fill(255), shape: [3, 4, 4, 1] } }, 'the test split'],
    slots: [...datasetSlots('bank', [0], N, false).slice(0, 5), slot('bankName', [1], fc.oneof(fc.integer(), fc.constant(null))),
      ...datasetSlots('query', [2], 3, false).slice(0, 5), slot('queryName', [3], fc.oneof(fc.integer(), fc.constant({})))],
  }, 300],
  [{
    name: 'sliceDataset', call: (d, n, s) => sliceDataset(d as never, n as never, s as never),
    good: () => [dataset(), 4, 0],
    slots: [...datasetSlots('ds', [0], N, false), slot('n', [1], int(0)), opt('start', [2], int(0))],
  }, 300],
  [{
    name: 'takeRows', call: (d, r, s) => takeRows(d as never, r as never, s as never),
    good: () => [dataset(), Int32Array.from([0, 3]), 'rows'],
    slots: [...datasetSlots('ds', [0], N, false), slot('rows', [1], fc.oneof(wrongArray('Int32Array', 2), fc.constant(Int32Array.from([0, N])), fc.constant(Int32Array.from([-1])))),
      slot('source', [2], fc.oneof(fc.integer(), fc.constant(null)))],
  }, 300],
  [{
    name: 'validationCount', call: (n, s, t) => validationCount(n as never, s as never, t as never),
    good: () => ['validation', 0.25, N],
    slots: [slot('validation', [1], num((x) => x > 0 && (x < 1 || (Number.isInteger(x) && x < N)), [N, 1.5])), slot('total', [2], int(0)),
      slot('name', [0], fc.oneof(fc.integer(), fc.constant(null)))],
  }, 200],
  [{
    name: 'validationSplit', call: (d, s, n) => validationSplit(d as never, s as never, n as never),
    good: () => [dataset(), 0.25, 'validation'],
    slots: [...datasetSlots('ds', [0], N, false), slot('validation', [1], num((x) => x > 0 && (x < 1 || (Number.isInteger(x) && x < N)), [N, 1.5]))],
  }, 300],
  [{
    name: 'stratifiedSplit', call: (d, s, o) => stratifiedSplit(d as never, s as never, o as never),
    good: () => [dataset(), 0.25, {}],
    slots: [...datasetSlots('ds', [0], N, false), slot('validation', [1], num((x) => x > 0 && (x < 1 || (Number.isInteger(x) && x < N)), [N])),
      opt('options', [2], notObject), opt('validation seed', [2, 'seed'], int(0, 2 ** 32 - 1)), opt('options.name', [2, 'name'], fc.oneof(fc.integer(), fc.constant({})))],
  }, 300],
  [{
    name: 'stratifiedSubset', call: (d, n, s) => stratifiedSubset(d as never, n as never, s as never),
    good: () => [dataset(), 4, 0],
    slots: [...datasetSlots('ds', [0], N, false), slot('n', [1], int(1)), opt('seed', [2], int(0, 2 ** 32 - 1))],
  }, 300],
  [{
    name: 'stratifiedRows', call: (l, n, c, s, e, t) => stratifiedRows(l as never, n as never, c as never, s as never, e as never, t as never),
    good: () => [labels(), N, 4, 0, true, undefined],
    slots: [opt('labels', [0], fc.oneof(wrongArray('Int32Array', N), fc.constant(new Int32Array(N - 1)), fc.constant(new Int32Array(N).fill(-2)))),
      slot('n', [1], int(0), ['labels']), slot('count', [2], int(0, N)), slot('seed', [3], int(0, 2 ** 32 - 1)), slot('everyClass', [4], notBool),
      opt('twins', [5], fc.oneof(wrongArray('Int32Array', N), fc.constant(new Int32Array(N).fill(N + 3))))],
  }, 300],
  [{
    name: 'holdOut', call: (d, s, seed, sp, n) => holdOut(d as never, s as never, seed as never, sp as never, n as never),
    good: () => [dataset(), 0.25, 0, 'test', 'holdOut'],
    slots: [...datasetSlots('ds', [0], N, false), slot('holdOut', [1], num((x) => x > 0 && (x < 1 || (Number.isInteger(x) && x < N)), [1.5, N])),
      slot('seed', [2], int(0, 2 ** 32 - 1)), slot('split', [3], oneOf(['train', 'test']))],
  }, 300],
  [{
    name: 'pixelFeatures', call: (im, m, s) => pixelFeatures(im as never, m as never, s as never),
    good: () => [images(), floats(16), floats(16)],
    slots: [...tensorSlots({ name: 'images', path: [0], shape: [N, 4, 4, 1], minimum: [0, 1, 1, 1], kind: 'Uint8Array' }),
      opt('mean', [1], fc.oneof(wrongArray('Float32Array', 16), fc.constant(floats(15)))), opt('std', [2], fc.oneof(wrongArray('Float32Array', 16), fc.constant(floats(17))))],
  }, 300],
  [{
    name: 'pixelForms', call: (a, b) => pixelForms(a as never, b as never),
    good: () => [images(), images(3)],
    slots: [...tensorSlots({ name: 'bank', path: [0], shape: [N, 4, 4, 1], kind: 'Uint8Array' }),
      ...tensorSlots({ name: 'query', path: [1], shape: [3, 4, 4, 1], kind: 'Uint8Array' }),
      slot('query.shape', [1], fc.constant({ data: new Uint8Array(3 * 25), shape: [3, 5, 5, 1] }))],
  }, 300],
  [{
    name: 'choosePixelForm', call: (d, k) => choosePixelForm(d as never, k as never),
    good: () => [dataset(), { k: 3 }],
    slots: [...datasetSlots('bank', [0]), opt('knn', [1], notObject), opt('options.k', [1, 'k'], int(1)), opt('options.t', [1, 't'], num((x) => x > 0))],
  }, 300],
  [{
    name: 'pixelBaselines', call: (a, b, o) => pixelBaselines(a as never, b as never, o as never),
    good: () => [dataset(), dataset(6), { knn: { k: 3 }, linear: false }],
    slots: [...datasetSlots('bank', [0]), ...datasetSlots('query', [1], 6), opt('options', [2], notObject),
      opt('options.knn', [2, 'knn'], notObject), opt('options.knn.k', [2, 'knn', 'k'], int(1), ['options.k']),
      opt('options.linear', [2, 'linear'], fc.oneof(fc.integer(), fc.constant('no'), fc.constant(true)))],
  }, 300],
  [{
    name: 'rawPixelBaseline', call: (a, b, o) => rawPixelBaseline(a as never, b as never, o as never),
    good: () => [dataset(), dataset(6), { knn: { k: 3 }, linear: false }],
    slots: [...datasetSlots('train', [0]), ...datasetSlots('test', [1], 6), opt('options', [2], notObject), opt('options.knn.k', [2, 'knn', 'k'], int(1), ['options.k'])],
  }, 300],
  [{
    name: 'inForm', call: (a, b, f) => inForm(a as never, b as never, f as never),
    good: () => [{ data: floats(12), shape: [4, 3] }, { data: floats(6), shape: [2, 3] }, 'centred'],
    slots: [...tensorSlots({ name: 'bank', path: [0], shape: [4, 3], shared: [{ dim: 1, names: ['bank', 'query'] }] }),
      ...tensorSlots({ name: 'query', path: [1], shape: [2, 3], shared: [{ dim: 1, names: ['bank', 'query'] }] }), slot('form', [2], oneOf(['raw', 'centred', 'standardised']))],
  }, 300],
  [{
    name: 'encodeNpy', call: (t, n) => encodeNpy(t as never, n as never),
    good: () => [npy(), 'array'],
    slots: [...npySlots([0]), opt('name', [1], fc.oneof(fc.integer(), fc.constant({})))],
  }, 300],
  [{
    name: 'decodeNpy', call: (b, w) => decodeNpy(b as never, w as never),
    good: () => [Buffer.concat(encodeNpy(npy())), 'npy'],
    slots: [slot('bytes', [0], wrongArray('Uint8Array', 100)), opt('what', [1], fc.oneof(fc.integer(), fc.constant({})))],
  }, 200],
  [{
    name: 'writeNpy', call: (f, t) => writeNpy(f as never, t as never),
    good: () => [aFile, npy()],
    after: () => disk.check(),
    slots: [slot('file', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(missing, 'x.npy')))), ...npySlots([1])],
  }, 300],
  [{
    name: 'readNpy', call: (f) => readNpy(f as never),
    good: () => [path.join(tmp, 'x.npy')],
    slots: [slot('file', [0], fc.oneof(badPath, fc.constant(ownDir)))],
  }, 100],
  [{
    name: 'encodeSafetensors', call: (t, m) => encodeSafetensors(t as never, m as never),
    good: () => [safetensors(), { a: 'b' }],
    slots: [...tensorFieldSlots([0]), opt('metadata', [1], fc.oneof(notObject, fc.constant([]), fc.constant({ a: 1 })))],
  }, 300],
  [{
    name: 'decodeSafetensors', call: (b, s) => decodeSafetensors(b as never, s as never),
    good: () => [encodeSafetensors(safetensors() as never), 'st'],
    slots: [slot('buf', [0], wrongArray('Uint8Array', 64)), opt('source', [1], fc.oneof(fc.integer(), fc.constant({})))],
  }, 200],
  [{
    name: 'readSafetensors', call: (f) => readSafetensors(f as never),
    good: () => [path.join(tmp, 'x.safetensors')],
    slots: [slot('file', [0], fc.oneof(badPath, fc.constant(ownDir)))],
  }, 100],
  [{
    name: 'writeSafetensors', call: (f, t, m) => writeSafetensors(f as never, t as never, m as never),
    good: () => [aFile, safetensors(), undefined],
    after: () => disk.check(),
    slots: [slot('file', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(missing, 'x')))), ...tensorFieldSlots([1])],
  }, 300],
  [{
    name: 'writeFileAtomicSync', call: (f, d) => writeFileAtomicSync(f as never, d as never),
    good: () => [aFile, 'new'],
    after: () => disk.check(),
    slots: [slot('file', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(missing, 'x')))),
      slot('data', [1], fc.oneof(fc.integer(), fc.constant(null), fc.constant({}), fc.constant([1, 2]), fc.constant(['ok', 3])))],
  }, 300],
  [{
    name: 'writeFileAtomic', call: (f, d) => writeFileAtomic(f as never, d as never),
    good: () => [aFile, 'new'],
    after: () => disk.check(),
    slots: [slot('file', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(missing, 'x')))),
      slot('data', [1], fc.oneof(fc.integer(), fc.constant(null), fc.constant({}), fc.constant([1, 2])))],
  }, 300],
  [{
    name: 'writeDirAtomic', call: (d, f, o) => writeDirAtomic(d as never, f as never, o as never),
    good: () => [ownDir, () => undefined, { replaceable: () => false }],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(aFile))), slot('fill', [1], notFunction),
      opt('options', [2], notObject), opt('options.name', [2, 'name'], fc.oneof(fc.integer(), fc.constant({}))),
      opt('options.replaceable', [2, 'replaceable'], notFunction), slot('dir', [2, 'replaceable'], fc.constant(() => false))],
  }, 300],
  [{
    name: 'appendLineSync', call: (f, l) => appendLineSync(f as never, l as never),
    good: () => [path.join(ownDir, 'metrics.jsonl'), 'x'],
    after: () => disk.check(),
    slots: [slot('file', [0], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(missing, 'x')))), slot('line', [1], fc.oneof(fc.integer(), fc.constant(null), fc.constant('a\nb')))],
  }, 200],
  [{
    name: 'appendMetrics', call: (d, r) => appendMetrics(d as never, r as never),
    good: () => [ownDir, { epoch: 2 }],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(aFile))), slot('record', [1], fc.oneof(notObject, fc.constant([]), fc.constant({ big: 1n })))],
  }, 200],
  [{
    name: 'readMetrics', call: (d) => readMetrics(d as never),
    good: () => [ownDir],
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(aFile)))],
  }, 100],
  [{
    name: 'renderReport', call: (i) => renderReport(i as never),
    good: () => [{ config: { a: 1 }, history: [{ epoch: 1, loss: 2 }] }],
    slots: [slot('input', [0], notObject), opt('input.config', [0, 'config'], fc.oneof(fc.integer(), fc.constant('x'))),
      opt('input.history', [0, 'history'], fc.oneof(notObject, fc.constant([5]), fc.constant([{ epoch: 'one' }]))),
      opt('input.title', [0, 'title'], fc.oneof(fc.integer(), fc.constant({}))),
      opt('input.samplesPng', [0, 'samplesPng'], fc.oneof(fc.integer(), fc.constant({}), fc.constant(missing))),
      opt('input.timing', [0, 'timing'], fc.oneof(fc.integer(), fc.constant({ total: 'long' }))),
      opt('input.results', [0, 'results'], fc.oneof(fc.integer(), fc.constant({ a: {} }))),
      opt('input.baselines', [0, 'baselines'], fc.oneof(notObject, fc.constant([{ name: 1, accuracy: 0.5 }]), fc.constant([{ name: 'x', accuracy: NaN }]))),
      opt('input.knnSplit', [0, 'knnSplit'], fc.oneof(fc.integer(), fc.constant({}))),
      opt('input.knnSplitSize', [0, 'knnSplitSize'], int(0)),
      opt('input.date', [0, 'date'], fc.oneof(fc.integer(), fc.constant('today'), fc.constant(new Date(NaN))))],
  }, 400],
  [{
    name: 'writeReport', call: (d, i) => writeReport(d as never, i as never),
    good: () => [ownDir, { config: {}, history: [] }],
    after: () => disk.check(),
    slots: [slot('dir', [0], fc.oneof(notPath, fc.constant(aFile))), slot('input', [1], notObject)],
  }, 200],
  [{ name: 'setCpuThreads', call: (n) => setCpuThreads(n as never), good: () => [0], slots: [slot('threads', [0], int(0, 4096))] }, 100],
  [{ name: 'new Rng', call: (s) => new Rng(s as never), good: () => [1], slots: [slot('seed', [0], fc.oneof(notNumber, fc.constantFrom(NaN, 0.5, Infinity, 2 ** 60)))] }, 100],
  [{
    name: 'epochLr', call: (b, e, n) => epochLr(b as never, e as never, n as never),
    good: () => [0.1, 1, 10],
    slots: [slot('baseLr', [0], num((x) => x >= 0)), slot('epoch', [1], int(0)), slot('epochs', [2], int(1))],
  }, 200],
  [{
    name: 'scheduledLr', call: (s, e, st) => scheduledLr(s as never, e as never, st as never),
    good: () => [{ baseLr: 0.1, epochs: 10, stepsPerEpoch: 5, warmupEpochs: 1 }, 1, 2],
    slots: [slot('schedule', [0], notObject), slot('schedule.baseLr', [0, 'baseLr'], num((x) => x >= 0)), slot('schedule.epochs', [0, 'epochs'], int(1)),
      slot('schedule.stepsPerEpoch', [0, 'stepsPerEpoch'], int(1)), slot('schedule.warmupEpochs', [0, 'warmupEpochs'], num((x) => x >= 0)),
      slot('epoch', [1], int(0)), slot('step', [2], int(0))],
  }, 200],
  [{ name: 'permutation', call: (n, s) => permutation(n as never, s as never), good: () => [5, 1], slots: [slot('n', [0], int(0, 2 ** 31 - 1)), slot('seed', [1], int(0, 2 ** 32 - 1))] }, 200],
  [{ name: 'defaultQueueSize', call: (n) => defaultQueueSize(n as never), good: () => [100], slots: [slot('nTrain', [0], int(0))] }, 100],
  [{
    name: 'recipeOptions', call: (o) => recipeOptions(o as never),
    good: () => [{ preset: 'quick' }],
    slots: [slot('options', [0], notObject), opt('options.preset', [0, 'preset'], oneOf(['quick', 'cpu-long', 'gpu', 'toString', 'constructor']))],
  }, 100],
  [{
    name: 'formatScorecard', call: (c) => formatScorecard(c as never),
    good: () => [scorecardResult()],
    slots: [slot('scorecard', [0], notObject), slot('scorecard.pixels', [0, 'pixels'], notObject), slot('scorecard.split', [0, 'split'], fc.oneof(fc.integer(), fc.constant(null)))],
  }, 100],
];

describe(`fuzzed bad input to loading, splits, files and helpers (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} cases, each a typed error naming the argument`, () => fuzzTarget(t, runs), 60000);
});
