// The encoder's layers as data, with their offsets in the flat parameter and running-statistics
// buffers: the TypeScript twin of native/src/model/arch.cpp (build_arch), for code that reads a
// model's weights outside the native library (the ONNX export). The order is the one documented
// in native/include/clsa/model.h; test/onnx.test.ts checks the totals against the native model.
import type { ResolvedModelConfig } from './model';
import { checkEnum, checkInt, describe } from './validate';

export interface ConvLayout {
  cin: number; cout: number; k: number; stride: number; pad: number;
  /** Offset of the weight [cout][cin][k][k]; convolutions have no bias. */
  w: number;
}

export interface BnLayout {
  c: number;
  /** Parameter offsets. */
  gamma: number; beta: number;
  /** Running-statistics offsets. */
  mean: number; variance: number;
}

export interface LinearLayout {
  in: number; out: number;
  /** Weight [out][in] and bias [out]. */
  w: number; b: number;
}

export interface BlockLayout {
  conv1: ConvLayout; bn1: BnLayout;
  conv2: ConvLayout; bn2: BnLayout;
  /** Projection shortcut (1x1 conv with the block's stride, then BN) where the shape changes. */
  shortcut?: { conv: ConvLayout; bn: BnLayout };
}

export interface EncoderLayout {
  inChannels: number;
  stem: ConvLayout; stemBn: BnLayout;
  blocks: BlockLayout[];
  featureDim: number;
  fc1: LinearLayout; fc2: LinearLayout;
  /** Floats in one encoder's parameter buffer and in its running-statistics buffer. */
  params: number; stats: number;
}

type LayoutConfig = Pick<ResolvedModelConfig, 'arch' | 'width' | 'depth' | 'inChannels' | 'projHidden' | 'projDim'>;

function checkLayoutConfig(name: string, c: unknown): LayoutConfig {
  if (typeof c !== 'object' || c === null)
    throw new TypeError(`${name}: expected { arch, width, depth, inChannels, projHidden, projDim } but got ${describe(c)}`);
  const v = c as LayoutConfig;
  checkEnum(`${name}.arch`, v.arch, ['resnet-mini', 'resnet18'] as const);
  checkInt(`${name}.width`, v.width, 1, 4096);
  checkInt(`${name}.depth`, v.depth, 1, 64);
  checkInt(`${name}.inChannels`, v.inChannels, 1, 64);
  checkInt(`${name}.projHidden`, v.projHidden, 1, 65536);
  checkInt(`${name}.projDim`, v.projDim, 1, 65536);
  return v;
}

/** The layout of a resolved config (ClsaModel.config, or an encoder's config.json `model`). */
export function encoderLayout(config: LayoutConfig, name = 'config'): EncoderLayout {
  const c = checkLayoutConfig(name, config);
  let params = 0, stats = 0;
  const conv = (cin: number, cout: number, k: number, stride: number): ConvLayout => {
    const s = { cin, cout, k, stride, pad: Math.floor(k / 2), w: params };
    params += cout * cin * k * k;
    return s;
  };
  const bn = (ch: number): BnLayout => {
    const s = { c: ch, gamma: params, beta: params + ch, mean: stats, variance: stats + ch };
    params += 2 * ch;
    stats += 2 * ch;
    return s;
  };
  const linear = (inDim: number, out: number): LinearLayout => {
    const s = { in: inDim, out, w: params, b: params + inDim * out };
    params += inDim * out + out;
    return s;
  };
  const stages = c.arch === 'resnet18' ? 4 : 3;
  const stem = conv(c.inChannels, c.width, 3, 1);
  const stemBn = bn(c.width);
  const blocks: BlockLayout[] = [];
  let cin = c.width;
  for (let st = 0; st < stages; st++) {
    const cout = c.width * 2 ** st;
    for (let i = 0; i < c.depth; i++) {
      const stride = st > 0 && i === 0 ? 2 : 1;
      const conv1 = conv(cin, cout, 3, stride), bn1 = bn(cout);
      const conv2 = conv(cout, cout, 3, 1), bn2 = bn(cout);
      const block: BlockLayout = { conv1, bn1, conv2, bn2 };
      if (stride !== 1 || cin !== cout) {
        const sc = conv(cin, cout, 1, stride);
        block.shortcut = { conv: sc, bn: bn(cout) };
      }
      blocks.push(block);
      cin = cout;
    }
  }
  const fc1 = linear(cin, c.projHidden);
  const fc2 = linear(c.projHidden, c.projDim);
  return { inChannels: c.inChannels, stem, stemBn, blocks, featureDim: cin, fc1, fc2, params, stats };
}
