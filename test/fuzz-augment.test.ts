// Fuzzed bad input for the augmentations: augmentBatch(Sync), applyAugmentParams (explicit
// parameters reach the native pipelines, so a bad crop box must never get there),
// drawAugmentParams, the view builders and presets, the preview writers.
import fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  applyAugmentParams, augmentBatch, augmentBatchDevice, augmentBatchSync, augmentPreview, checkViewSizes, cropPresets, drawAugmentParams,
  strongView, weakView, writeAugmentPreview,
} from '../lib';
import { int, notBool, notObject, notPath, num, oneOf, wrongArray } from './helpers/bad-values';
import { guard } from './helpers/disk';
import { fuzzTarget, opt, Path, SEED, slot, Slot, Target } from './helpers/fuzz';
import { seedNote } from './helpers/seed';
import { tensorSlots } from './helpers/tensor-slots';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-fuzz-augment-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const existing = path.join(tmp, 'grid.png'), ownDir = path.join(tmp, 'mine');
fs.writeFileSync(existing, 'an older preview');
fs.mkdirSync(ownDir);
const disk = guard(tmp);

const N = 2, H = 12, W = 10;
const images = (c = 1) => ({ data: new Uint8Array(N * H * W * c).map((_, i) => (i * 37) & 255), shape: [N, H, W, c] });
const VIEW = { size: 8, randAugment: { n: 2, p: 0.5, magnitude: [1, 9], fill: 128 }, jitter: { brightness: 0.4 }, blur: { sigma: [0.1, 1] } };
const view = () => JSON.parse(JSON.stringify(VIEW));
/** Overrides with every nested object present, so that the slots inside them have somewhere to go. */
const overrides = () => { const { size: _size, ...rest } = view(); return rest; };

/** [lo, hi] pairs that break `[min, max]` ranges: wrong type or length, non-finite, reversed, outside. */
const badPair = (outside: [number, number][]) => fc.oneof(notObject, fc.constant([]), fc.constant([0.5]), fc.constant([0.2, 0.5, 0.9]),
  fc.constant([NaN, 1]), fc.constant([0.5, '1']), fc.constant([0.9, 0.3]), fc.constantFrom(...outside));

const prob = (name: string, p: Path) => opt(name, p, num((x) => x >= 0 && x <= 1, [1.01, -0.01]));

/** Every field of a view at `p`, named `name` in errors. */
function viewSlots(name: string, p: Path, required = true): Slot[] {
  const at = (...k: (string | number)[]) => [...p, ...k];
  return [
    (required ? slot : opt)(name, p, fc.oneof(notObject, fc.constant([]))),
    slot(`${name}.size`, at('size'), int(1, 8192)),
    opt(`${name}.scale`, at('scale'), badPair([[0, 1], [0.5, 1.5]])),
    opt(`${name}.ratio`, at('ratio'), badPair([[0, 1], [-1, 2]])),
    prob(`${name}.flip`, at('flip')),
    prob(`${name}.grayscale`, at('grayscale')),
    opt(`${name}.jitter`, at('jitter'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean())),
    opt(`${name}.jitter.brightness`, at('jitter', 'brightness'), num((x) => x >= 0)),
    opt(`${name}.jitter.contrast`, at('jitter', 'contrast'), num((x) => x >= 0)),
    opt(`${name}.jitter.saturation`, at('jitter', 'saturation'), num((x) => x >= 0)),
    opt(`${name}.jitter.hue`, at('jitter', 'hue'), num((x) => x >= 0 && x <= 0.5, [0.51])),
    prob(`${name}.jitter.p`, at('jitter', 'p')),
    opt(`${name}.blur`, at('blur'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean())),
    opt(`${name}.blur.sigma`, at('blur', 'sigma'), badPair([[0, 1], [1, 1001]])),
    prob(`${name}.blur.p`, at('blur', 'p')),
    opt(`${name}.randAugment`, at('randAugment'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean())),
    opt(`${name}.randAugment.n`, at('randAugment', 'n'), int(0, 16)),
    prob(`${name}.randAugment.p`, at('randAugment', 'p')),
    opt(`${name}.randAugment.magnitude`, at('randAugment', 'magnitude'), badPair([[0, 9], [1, 10], [1.5, 3]])),
    opt(`${name}.randAugment.fill`, at('randAugment', 'fill'), int(0, 255)),
    opt(`${name}.mean`, at('mean'), fc.oneof(notObject, fc.constant([]), fc.constant([0.1, 0.2]), fc.constant([NaN]), fc.constant(['0.1']))),
    opt(`${name}.std`, at('std'), fc.oneof(notObject, fc.constant([0]), fc.constant([-0.2]), fc.constant([Infinity]), fc.constant([0.2, 0.2]))),
  ];
}

const imageSlots = (p: Path): Slot[] => [
  ...tensorSlots({ name: 'images', path: p, shape: [N, H, W, 1], minimum: [0, 1, 1, 1], kind: 'Uint8Array' }),
  slot('images.shape[3] (C)', [...p, 'shape', 3], fc.constantFrom(2, 4, 0), ['images.shape[3]']),
];

function augmentTarget(name: string, call: (...a: unknown[]) => unknown): Target {
  return {
    name, call,
    good: () => [images(), [view(), view()], {}],
    slots: [
      ...imageSlots([0]),
      slot('views', [1], fc.oneof(notObject, fc.constant([]), fc.constant(new Array(65).fill(VIEW)))),
      ...viewSlots('views[0]', [1, 0]),
      opt('options', [2], notObject),
      opt('options.seed', [2, 'seed'], int(0)),
      opt('options.imageOffset', [2, 'imageOffset'], int(0)),
      opt('options.device', [2, 'device'], oneOf(['auto', 'cpu', 'cuda'])),
      opt('options.deviceIndex', [2, 'deviceIndex'], int(0, 15)),
      opt('options.out', [2, 'out'], fc.oneof(notObject, fc.constant([]), fc.constant([new Float32Array(2 * 64), new Float32Array(7)]),
        fc.constant([new Float32Array(2 * 64), new Float64Array(2 * 64)]))),
    ],
  };
}

const goodParams = () => drawAugmentParams(VIEW as never, { n: N, height: H, width: W, channels: 1 });
const paramSlots = (p: Path): Slot[] => {
  const at = (...k: (string | number)[]) => [...p, ...k];
  const name = 'params[0][1]';
  return [
    slot(name, p, notObject),
    // Outside the image whatever the rest of the box: x >= W, y >= H, a side longer than the image's.
    slot(`${name}.cropX`, at('cropX'), int(0, W - 1)), slot(`${name}.cropY`, at('cropY'), int(0, H - 1)),
    slot(`${name}.cropW`, at('cropW'), int(1, W)), slot(`${name}.cropH`, at('cropH'), int(1, H)),
    ...(['flip', 'jitter', 'grayscale', 'blur'] as const).map((k) => slot(`${name}.${k}`, at(k), notBool)),
    slot(`${name}.jitterOrder`, at('jitterOrder'), fc.oneof(notObject, fc.constant([0, 1, 2]), fc.constant([0, 1, 2, 4]), fc.constant([0, 1, 2, 0.5]))),
    ...(['brightness', 'contrast', 'saturation'] as const).map((k) => slot(`${name}.${k}`, at(k), num((x) => x >= 0))),
    slot(`${name}.hue`, at('hue'), num((x) => x >= -0.5 && x <= 0.5)),
    slot(`${name}.blurSigma`, at('blurSigma'), num((x) => x >= 0 && x <= 1000)),
    slot(`${name}.ops`, at('ops'), fc.oneof(notObject, fc.constant(new Array(17).fill({ op: 0, magnitude: 1, sign: 1, applied: true })))),
    slot(`${name}.ops[0]`, at('ops', 0), notObject),
    slot(`${name}.ops[0].op`, at('ops', 0, 'op'), int(0, 13)),
    slot(`${name}.ops[0].magnitude`, at('ops', 0, 'magnitude'), int(1, 9)),
    slot(`${name}.ops[0].sign`, at('ops', 0, 'sign'), fc.oneof(notObject, fc.constantFrom(0, 2, -2, 0.5, NaN))),
    slot(`${name}.ops[0].applied`, at('ops', 0, 'applied'), notBool),
  ];
};

const targets: [Target, number][] = [
  [augmentTarget('augmentBatchSync', (i, v, o) => augmentBatchSync(i as never, v as never, o as never)), 900],
  [augmentTarget('augmentBatch', (i, v, o) => augmentBatch(i as never, v as never, o as never)), 500],
  [{
    name: 'augmentBatchDevice', call: (i, v, o) => augmentBatchDevice(i as never, v as never, o as never),
    good: () => [images(), [view()], { device: 'cuda' }],
    slots: [...imageSlots([0]), slot('views', [1], fc.oneof(notObject, fc.constant([]))), ...viewSlots('views[0]', [1, 0]).slice(0, 6),
      opt('options.device', [2, 'device'], fc.constantFrom('cpu', 'gpu'))],
  }, 200],
  [{
    name: 'applyAugmentParams', call: (i, v, p) => applyAugmentParams(i as never, v as never, p as never),
    good: () => [images(), [view()], [goodParams()]],
    slots: [
      ...imageSlots([0]),
      slot('views', [1], fc.oneof(notObject, fc.constant([]))),
      ...viewSlots('views[0]', [1, 0]).slice(0, 8),
      slot('params', [2], fc.oneof(notObject, fc.constant([]), fc.constant([[], []]))),
      slot('params[0]', [2, 0], fc.oneof(notObject, fc.constant([]))),
      ...paramSlots([2, 0, 1]),
    ],
  }, 900],
  [{
    name: 'drawAugmentParams', call: (v, o) => drawAugmentParams(v as never, o as never),
    good: () => [view(), { n: 3, height: H, width: W, channels: 1 }],
    slots: [
      ...viewSlots('view', [0]),
      slot('options', [1], notObject),
      slot('options.n', [1, 'n'], fc.oneof(int(0, 1 << 20), fc.constant(2 ** 31 - 1))),
      slot('options.height', [1, 'height'], int(1, 8192)),
      slot('options.width', [1, 'width'], int(1, 8192)),
      opt('options.channels', [1, 'channels'], fc.constantFrom(0, 2, 4, '1', 1.5)),
      opt('options.seed', [1, 'seed'], int(0)),
      opt('options.imageOffset', [1, 'imageOffset'], int(0)),
      opt('options.viewIndex', [1, 'viewIndex'], int(0, 2 ** 31 - 1)),
    ],
  }, 600],
  [{
    name: 'cropPresets', call: (k, s, o) => cropPresets(k as never, s as never, o as never),
    good: () => ['single', 28, overrides()],
    slots: [
      slot('kind', [0], oneOf(['single', 'multi'])),
      slot('imageSize', [1], int(1, 8192)),
      opt('overrides', [2], notObject),
      ...viewSlots('overrides', [2], false).slice(2).filter((s) => s.names[0] !== 'overrides.scale'),
    ],
  }, 500],
  [{
    name: 'weakView', call: (s, o) => weakView(s as never, o as never),
    good: () => [16, overrides()],
    slots: [slot('size', [0], int(1, 8192)), opt('overrides', [1], notObject), ...viewSlots('overrides', [1], false).slice(2)],
  }, 300],
  [{
    name: 'strongView', call: (s, o) => strongView(s as never, o as never),
    good: () => [16, overrides()],
    slots: [slot('size', [0], int(1, 8192)), opt('overrides', [1], notObject), ...viewSlots('overrides', [1], false).slice(2)],
  }, 300],
  [{
    name: 'checkViewSizes', call: (c, s) => checkViewSizes(c as never, s as never),
    good: () => [{ key: { size: 8 }, weak: [{ size: 8 }], strong: [{ size: 8 }] }, 16],
    slots: [
      slot('crops', [0], notObject, ['options.crops']),
      slot('options.crops.key', [0, 'key'], notObject),
      slot('options.crops.weak', [0, 'weak'], notObject),
      slot('options.crops.strong', [0, 'strong'], notObject),
      slot('options.crops.weak[0].size', [0, 'weak', 0, 'size'], fc.oneof(int(1, 16), fc.constant(17))),
      slot('imageSize', [1], int(1, 8192), ['images']),
    ],
  }, 300],
  [{
    name: 'augmentPreview', call: (i, o) => augmentPreview(i as never, o as never),
    good: () => [images(), { out: existing, n: 2, views: [view()], seed: 1 }],
    after: () => disk.check(),
    slots: [
      ...imageSlots([0]).filter((s) => s.names[0] !== 'images.shape'),
      slot('options', [1], notObject, ['options.out']),
      slot('options.out', [1, 'out'], fc.oneof(notPath, fc.constant(ownDir), fc.constant(path.join(tmp, 'no', 'dir', 'x.png')))),
      opt('options.n', [1, 'n'], int(1, N)),
      opt('options.views', [1, 'views'], fc.oneof(notObject, fc.constant([]))),
      ...viewSlots('options.views[0]', [1, 'views', 0]).slice(1, 8),
      opt('options.preset', [1, 'preset'], oneOf(['single', 'multi'])),
      opt('options.seed', [1, 'seed'], int(0)),
      opt('options.zoom', [1, 'zoom'], int(1, 64)),
    ],
  }, 400],
  [{
    name: 'writeAugmentPreview', call: (d, o, p) => writeAugmentPreview(d as never, o as never, p as never),
    good: () => [{ images: images() }, existing, { n: 1 }],
    after: () => disk.check(),
    slots: [
      slot('dataset', [0], notObject, ['images']),
      slot('outPath', [1], fc.oneof(notPath, fc.constant(ownDir)), ['options.out']),
      opt('options', [2], notObject),
      opt('options.zoom', [2, 'zoom'], int(1, 64)),
    ],
  }, 200],
];

describe(`fuzzed bad input to the augmentations (${seedNote(SEED)})`, () => {
  for (const [t, runs] of targets)
    test(`${t.name}: ${runs} cases, each a typed error naming the argument`, () => fuzzTarget(t, runs), 60000);
});
