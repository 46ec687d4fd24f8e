// Fuzzed bad input for the tensor kernels: the fused head, the momentum update and the queue, kNN
// and the linear probe. One spoilt argument per case; each must fail with a typed error naming it.
import fc from 'fast-check';
import {
  clsaHead, clsaHeadSync, knnAccuracy, knnAccuracySync, knnTopk, knnTopkSync, knnVote, linearProbe, linearProbeSync, momentumUpdate, Queue,
} from '../lib';
import { int, notBool, notObject, num, oneOf, wrongArray } from './helpers/bad-values';
import { fuzzTarget, opt, SEED, slot, Target } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { tensorSlots } from './helpers/tensor-slots';

function floats(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2 ** 32 - 0.5; }
  return a;
}
const tensor = (shape: number[], seed: number) => ({ data: floats(shape.reduce((a, b) => a * b, 1), seed), shape });
const notSignal = fc.oneof(notObject, fc.constant({}), fc.constant({ aborted: 'no' }));

const W = 2, N = 4, D = 6, S = 1, K = 10;
const headNames = ['weak', 'strong', 'keys', 'queue'];
function headTarget(name: string, call: (...a: unknown[]) => unknown): Target {
  return {
    name, call,
    good: () => [{ weak: tensor([W, N, D], 1), strong: tensor([S, N, D], 2), keys: tensor([N, D], 3), queue: tensor([K, D], 4) }, {}],
    slots: [
      slot(`${name}(inputs)`, [0], notObject, ['inputs']),
      ...tensorSlots({ name: 'weak', path: [0, 'weak'], shape: [W, N, D], finite: true, nonZeroRows: true, shared: [{ dim: 1, names: headNames }, { dim: 2, names: headNames }] }),
      ...tensorSlots({ name: 'strong', path: [0, 'strong'], shape: [S, N, D], minimum: [0, 1, 1], finite: true, nonZeroRows: true, shared: [{ dim: 1, names: headNames }] }),
      ...tensorSlots({ name: 'keys', path: [0, 'keys'], shape: [N, D], finite: true, nonZeroRows: true, shared: [{ dim: 0, names: headNames }, { dim: 1, names: headNames }] }),
      ...tensorSlots({ name: 'queue', path: [0, 'queue'], shape: [K, D], finite: true, shared: [{ dim: 1, names: headNames }] }),
      opt(`${name}(inputs, options)`, [1], notObject, ['options']),
      opt('options.temperature', [1, 'temperature'], num((x) => x > 0, [0, -0])),
      opt('options.ddmTemperature', [1, 'ddmTemperature'], num((x) => x > 0, [0])),
      opt('options.ddmWeight', [1, 'ddmWeight'], num((x) => x >= 0, [-1e-9])),
      opt('options.normalize', [1, 'normalize'], notBool),
      opt('options.precision', [1, 'precision'], oneOf(['fp32', 'tf32', 'bf16', 'fp16'])),
      opt('options.device', [1, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
    ],
  };
}

const targets: [Target, number][] = [
  [headTarget('clsaHeadSync', (i, o) => clsaHeadSync(i as never, o as never)), 500],
  [headTarget('clsaHead', (i, o) => clsaHead(i as never, o as never)), 300],
  [{
    name: 'momentumUpdate', call: (t, s, m, o) => momentumUpdate(t as never, s as never, m as never, o as never),
    good: () => [floats(12, 1), floats(12, 2), 0.9, {}],
    slots: [
      slot('target', [0], wrongArray('Float32Array', 12)),
      slot('source', [1], fc.oneof(wrongArray('Float32Array', 12), fc.constant(new Float32Array(11)), fc.constant(new Float32Array(13)))),
      slot('m', [2], num((x) => x >= 0 && x <= 1, [1.0000001, -0.0001])),
      opt('opts', [3], notObject),
      opt('opts.device', [3, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
    ],
  }, 300],
  [{
    name: 'new Queue', call: (size, dim, o) => new Queue(size as never, dim as never, o as never),
    good: () => [8, 4, {}],
    slots: [
      slot('size', [0], int(1, 2 ** 31 - 1)),
      slot('dim', [1], int(1, 2 ** 31 - 1)),
      slot('size', [0], fc.constant(2 ** 29), ['size x dim']),
      opt('opts', [2], notObject),
      opt('opts.seed', [2, 'seed'], int(0, 2 ** 32 - 1)),
      opt('opts.device', [2, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
      opt('opts.deviceIndex', [2, 'deviceIndex'], int(0, 15)),
    ],
  }, 300],
  [{
    name: 'queue.enqueue', call: (keys, o) => new Queue(8, 4).enqueue(keys as never, o as never),
    good: () => [tensor([3, 4], 5), {}],
    slots: [
      ...tensorSlots({ name: 'keys', path: [0], shape: [3, 4], finite: true, shared: [{ dim: 1, names: ['keys'] }] }),
      opt('opts', [1], notObject),
      opt('opts.normalize', [1, 'normalize'], notBool),
    ],
  }, 300],
];

const NT = 7, NQ = 5, DK = 3;
const knnNames = ['train', 'test'];
function topkTarget(name: string, call: (...a: unknown[]) => unknown): Target {
  return {
    name, call,
    good: () => [tensor([NT, DK], 6), tensor([NQ, DK], 7), { k: 3 }],
    slots: [
      ...tensorSlots({ name: 'train', path: [0], shape: [NT, DK], finite: true, shared: [{ dim: 1, names: knnNames }] }),
      ...tensorSlots({ name: 'test', path: [1], shape: [NQ, DK], finite: true, shared: [{ dim: 1, names: knnNames }] }),
      opt('options', [2], notObject),
      opt('options.k', [2, 'k'], int(1, NT)),
      opt('options.device', [2, 'device'], oneOf(['cpu', 'cuda'])),
      opt('options.deviceIndex', [2, 'deviceIndex'], int(0, 15)),
      ...(name === 'knnTopk' ? [opt('options.signal', [2, 'signal'], notSignal)] : []),
    ],
  };
}

const labels = (n: number, classes: number) => Int32Array.from({ length: n }, (_, i) => i % classes);
const badLabels = (n: number) => fc.oneof(wrongArray('Int32Array', n), fc.constant(new Int32Array(n - 1)),
  fc.integer({ min: 0, max: n - 1 }).map((i) => { const l = labels(n, 2); l[i] = -1 - i; return l; }));

function labelledTarget(name: string, call: (...a: unknown[]) => unknown, options: object, optionSlots: ReturnType<typeof opt>[]): Target {
  return {
    name, call,
    good: () => [{ features: tensor([NT, DK], 8), labels: labels(NT, 2) }, { features: tensor([NQ, DK], 9), labels: labels(NQ, 2) }, { ...options }],
    slots: [
      slot('train', [0], notObject),
      slot('test', [1], notObject),
      ...tensorSlots({ name: 'train.features', path: [0, 'features'], shape: [NT, DK], finite: true, shared: [{ dim: 1, names: ['train.features', 'test.features'] }] }),
      ...tensorSlots({ name: 'test.features', path: [1, 'features'], shape: [NQ, DK], finite: true, shared: [{ dim: 1, names: ['train.features', 'test.features'] }] }),
      slot('train.labels', [0, 'labels'], badLabels(NT)),
      slot('test.labels', [1, 'labels'], badLabels(NQ)),
      opt('options', [2], notObject),
      ...optionSlots,
    ],
  };
}

const knnOptionSlots = (async: boolean) => [
  opt('options.k', [2, 'k'], int(1)),
  opt('options.t', [2, 't'], num((x) => x > 0, [0])),
  opt('options.classes', [2, 'classes'], fc.oneof(int(1, 1 << 20), fc.constant(1))),
  opt('options.device', [2, 'device'], oneOf(['cpu', 'cuda'])),
  opt('options.deviceIndex', [2, 'deviceIndex'], int(0, 15)),
  ...(async ? [opt('options.signal', [2, 'signal'], notSignal)] : []),
];

const probeOptionSlots = (async: boolean) => [
  opt('options.solver', [2, 'solver'], oneOf(['lbfgs', 'adamw'])),
  opt('options.weightDecay', [2, 'weightDecay'], fc.oneof(num((x) => x > 0, [0]), fc.constant('AUTO')).filter((v) => v !== 'auto')),
  opt('options.maxIterations', [2, 'maxIterations'], int(1, 1 << 24)),
  opt('options.tolerance', [2, 'tolerance'], num((x) => x > 0, [0])),
  opt('options.classes', [2, 'classes'], fc.oneof(int(2, 1 << 20), fc.constant(1))),
  opt('options.standardize', [2, 'standardize'], notBool),
  opt('options.epochs', [2, 'epochs'], fc.constant(10)),
  ...(async ? [opt('options.signal', [2, 'signal'], notSignal)] : []),
];

targets.push(
  [topkTarget('knnTopk', (a, b, o) => knnTopk(a as never, b as never, o as never)), 400],
  [topkTarget('knnTopkSync', (a, b, o) => knnTopkSync(a as never, b as never, o as never)), 300],
  [labelledTarget('knnAccuracy', (a, b, o) => knnAccuracy(a as never, b as never, o as never), {}, knnOptionSlots(true)), 500],
  [labelledTarget('knnAccuracySync', (a, b, o) => knnAccuracySync(a as never, b as never, o as never), {}, knnOptionSlots(false)), 300],
  [labelledTarget('linearProbe', (a, b, o) => linearProbe(a as never, b as never, o as never), { maxIterations: 5, weightDecay: 1e-3 }, probeOptionSlots(true)), 400],
  [labelledTarget('linearProbeSync', (a, b, o) => linearProbeSync(a as never, b as never, o as never), { maxIterations: 5, weightDecay: 1e-3 }, probeOptionSlots(false)), 300],
  [{
    name: 'linearProbe adamw', call: (a, b, o) => linearProbeSync(a as never, b as never, o as never),
    good: () => [{ features: tensor([NT, DK], 8), labels: labels(NT, 2) }, { features: tensor([NQ, DK], 9), labels: labels(NQ, 2) }, { solver: 'adamw', epochs: 2 }],
    slots: [
      opt('options.epochs', [2, 'epochs'], int(1, 100000)),
      opt('options.batchSize', [2, 'batchSize'], int(1)),
      opt('options.lr', [2, 'lr'], num((x) => x > 0, [0])),
      opt('options.seed', [2, 'seed'], int(0, 2 ** 32 - 1)),
      opt('options.weightDecay', [2, 'weightDecay'], fc.oneof(num((x) => x >= 0, [-1e-12]), fc.constant('auto'))),
      opt('options.maxIterations', [2, 'maxIterations'], fc.constant(3)),
    ],
  }, 300],
  [{
    name: 'knnVote', call: (top, l, c, t) => knnVote(top as never, l as never, c as never, t as never),
    good: () => [{ index: Int32Array.from([0, 1, 2, 1]), sim: Float32Array.from([0.9, 0.5, 0.8, 0.1]), k: 2 }, labels(3, 2), 2, 0.1],
    slots: [
      slot('top', [0], notObject),
      slot('top.k', [0, 'k'], int(1)),
      slot('top.index', [0, 'index'], fc.oneof(wrongArray('Int32Array', 4), fc.constant(Int32Array.from([0, 1, 7, 1])), fc.constant(Int32Array.from([0, -1, 2, 1])), fc.constant(new Int32Array(3)))),
      slot('top.sim', [0, 'sim'], fc.oneof(wrongArray('Float32Array', 4), fc.constant(new Float32Array(3)), fc.constant(Float32Array.from([0.9, NaN, 0.8, 0.1])))),
      slot('trainLabels', [1], fc.oneof(wrongArray('Int32Array', 3), fc.constant(Int32Array.from([0, 5, 1])), fc.constant(Int32Array.from([0, -1, 1])))),
      slot('classes', [2], int(1, 1 << 20)),
      slot('t', [3], num((x) => x > 0, [0])),
    ],
  }, 300],
);

describe(`fuzzed bad input to the kernels (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} cases, each a typed error naming the argument`, () => fuzzTarget(t, runs), 60000);
});
