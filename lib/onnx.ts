// ONNX export of a trained encoder: the backbone in evaluation mode (batch norm with its running
// statistics) and optionally the projection head, as an ONNX model that onnxruntime (Node, the
// browser, Python) runs without clsa. The protobuf is written by onnx-proto (the ONNX schema
// compiled for protobufjs), never assembled by hand. docs/onnx.md describes the file.
import { onnx } from 'onnx-proto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from './fsutil';
import { BnLayout, ConvLayout, encoderLayout, LinearLayout } from './layout';
import type { ResolvedModelConfig } from './model';
import { checkImageSize, checkNormalization, ImageNormalization } from './normalization';
import { checkBool, checkFloat32, checkValues, describe } from './validate';

/** IR version 8 with opset 17 (ONNX 1.12): every operator used here (Conv, BatchNormalization-15,
 * Relu, Add, GlobalAveragePool, Flatten, Gemm) is unchanged since, so onnxruntime of the last
 * years runs the file in Node, the browser (onnxruntime-web) and Python alike; a newer opset would
 * only narrow the runtimes that load it. */
export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;
/** Epsilon of clsa's batch norm (lib/model.ts passes it to every native model). */
const BN_EPS = 1e-5;

export interface OnnxExportOptions {
  /** Also output the projection head's embedding ('projection', [batch, projDim]) beside the
   * backbone features (default false: the features are what downstream tasks use). */
  head?: boolean;
  /** Fold every batch norm into the convolution before it (a bias per conv) instead of writing
   * BatchNormalization nodes (default false; onnxruntime folds them itself when it optimises). */
  foldBatchNorm?: boolean;
}

/** What the export reads: the query encoder's buffers and how its input was normalised. */
export interface OnnxEncoderSource {
  config: ResolvedModelConfig;
  params: Float32Array;
  stats: Float32Array;
  normalization: ImageNormalization;
  imageSize: [number, number];
}

export interface OnnxExportInfo {
  file?: string;
  bytes: number;
  opset: number;
  irVersion: number;
  input: { name: string; shape: (string | number)[] };
  outputs: { name: string; shape: (string | number)[] }[];
}

export const ONNX_INPUT = 'images';
export const ONNX_FEATURES = 'features';
export const ONNX_PROJECTION = 'projection';

const OPTION_KEYS = ['head', 'foldBatchNorm'];

function checkOptions(options: unknown): Required<OnnxExportOptions> {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`options: expected { head?: boolean, foldBatchNorm?: boolean } but got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (!OPTION_KEYS.includes(key)) throw new RangeError(`options.${key}: unknown option (known: ${OPTION_KEYS.join(', ')})`);
  const o = options as OnnxExportOptions;
  return {
    head: checkBool('options.head', o.head ?? false),
    foldBatchNorm: checkBool('options.foldBatchNorm', o.foldBatchNorm ?? false),
  };
}

/** Little-endian float32 bytes, as TensorProto.raw_data requires on any host. */
function rawFloats(data: Float32Array): Uint8Array {
  if (os.endianness() === 'LE') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return out;
}

function attrInts(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}
function attrInt(name: string, i: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}
function attrFloat(name: string, f: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

function valueInfo(name: string, dims: (string | number)[], doc: string): onnx.IValueInfoProto {
  return {
    name, docString: doc,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The graph as ONNX nodes and initializers; names follow torchvision's ResNet (conv1, bn1,
 * layer1.0.conv1, layer2.0.downsample.0 ...) and MoCo's head (fc.0, fc.2), so that users can
 * map the weights onto a PyTorch twin. */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];

  constructor(private src: OnnxEncoderSource, private fold: boolean) {}

  private tensor(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: rawFloats(data) });
    return name;
  }

  private param(offset: number, count: number): Float32Array {
    return this.src.params.subarray(offset, offset + count);
  }

  private node(opType: string, inputs: string[], output: string, attribute: onnx.IAttributeProto[] = []): string {
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  }

  /** conv -> batch norm (running statistics) -> optional ReLU, as the native eval forward. */
  convBn(x: string, conv: ConvLayout, bn: BnLayout, convName: string, bnName: string, relu: boolean): string {
    const { cin, cout, k } = conv;
    const dims = [cout, cin, k, k];
    const w = this.param(conv.w, cout * cin * k * k);
    const attrs = [attrInts('kernel_shape', [k, k]), attrInts('strides', [conv.stride, conv.stride]),
      attrInts('pads', [conv.pad, conv.pad, conv.pad, conv.pad])];
    const gamma = this.param(bn.gamma, bn.c), beta = this.param(bn.beta, bn.c);
    const mean = this.src.stats.subarray(bn.mean, bn.mean + bn.c), variance = this.src.stats.subarray(bn.variance, bn.variance + bn.c);
    let y: string;
    if (this.fold) {
      // y = gamma (conv(x) - mean) / sqrt(var + eps) + beta = conv_{w * s}(x) + (beta - mean * s).
      const fw = new Float32Array(w.length), fb = new Float32Array(cout);
      const per = cin * k * k;
      for (let o = 0; o < cout; o++) {
        const s = gamma[o] / Math.sqrt(variance[o] + BN_EPS);
        for (let j = 0; j < per; j++) fw[o * per + j] = w[o * per + j] * s;
        fb[o] = beta[o] - mean[o] * s;
      }
      y = this.node('Conv', [x, this.tensor(`${convName}.weight`, dims, fw), this.tensor(`${convName}.bias`, [cout], fb)], `${convName}`, attrs);
    } else {
      const c = this.node('Conv', [x, this.tensor(`${convName}.weight`, dims, w)], convName, attrs);
      y = this.node('BatchNormalization', [c, this.tensor(`${bnName}.weight`, [bn.c], gamma), this.tensor(`${bnName}.bias`, [bn.c], beta),
        this.tensor(`${bnName}.running_mean`, [bn.c], mean), this.tensor(`${bnName}.running_var`, [bn.c], variance)],
      bnName, [attrFloat('epsilon', BN_EPS)]);
    }
    return relu ? this.node('Relu', [y], `${bnName}.relu`) : y;
  }

  linear(x: string, l: LinearLayout, name: string, output = name): string {
    return this.node('Gemm', [x, this.tensor(`${name}.weight`, [l.out, l.in], this.param(l.w, l.in * l.out)),
      this.tensor(`${name}.bias`, [l.out], this.param(l.b, l.out))], output, [attrInt('transB', 1)]);
  }

  add(a: string, b: string, name: string): string {
    return this.node('Add', [a, b], name);
  }

  relu(x: string, name: string): string {
    return this.node('Relu', [x], name);
  }

  pool(x: string, output: string): string {
    const p = this.node('GlobalAveragePool', [x], 'avgpool');
    return this.node('Flatten', [p], output, [attrInt('axis', 1)]);
  }
}

function checkSource(src: OnnxEncoderSource): ReturnType<typeof encoderLayout> {
  if (typeof src !== 'object' || src === null)
    throw new TypeError(`src: expected { config, params, stats, normalization, imageSize } but got ${describe(src)}`);
  const layout = encoderLayout(src.config, 'src.config');
  checkFloat32('src.params', src.params);
  checkFloat32('src.stats', src.stats);
  for (const [k, have, want] of [['params', src.params.length, layout.params], ['stats', src.stats.length, layout.stats]] as const)
    if (have !== want)
      throw new RangeError(`src.${k}: expected ${want} floats, what the config (${src.config.arch}, width ${src.config.width}, depth ${src.config.depth}, ` +
        `projHidden ${src.config.projHidden}, projDim ${src.config.projDim}) lays out, but got ${have}`);
  checkNormalization('src.normalization', src.normalization, src.config.inChannels);
  checkImageSize('src.imageSize', src.imageSize);
  // NaN weights would export a model whose every output is NaN.
  checkValues('src.params', src.params, 1, src.params.length, false);
  checkValues('src.stats', src.stats, 1, src.stats.length, false);
  return layout;
}

/** The encoder as ONNX ModelProto bytes (see exportOnnx for what the file holds). */
export function encodeOnnx(src: OnnxEncoderSource, options: OnnxExportOptions = {}): { bytes: Uint8Array; info: OnnxExportInfo } {
  const opts = checkOptions(options);
  const layout = checkSource(src);
  const g = new GraphBuilder(src, opts.foldBatchNorm);
  let x = g.convBn(ONNX_INPUT, layout.stem, layout.stemBn, 'conv1', 'bn1', true);
  const depth = src.config.depth;
  layout.blocks.forEach((b, idx) => {
    const p = `layer${Math.floor(idx / depth) + 1}.${idx % depth}`;
    const a = g.convBn(x, b.conv1, b.bn1, `${p}.conv1`, `${p}.bn1`, true);
    const y = g.convBn(a, b.conv2, b.bn2, `${p}.conv2`, `${p}.bn2`, false);
    const skip = b.shortcut ? g.convBn(x, b.shortcut.conv, b.shortcut.bn, `${p}.downsample.0`, `${p}.downsample.1`, false) : x;
    x = g.relu(g.add(y, skip, `${p}.add`), `${p}.relu`);
  });
  const features = g.pool(x, ONNX_FEATURES);
  const c = src.config, norm = src.normalization;
  const inputShape: (string | number)[] = ['batch', c.inChannels, 'height', 'width'];
  const outputs = [{ name: ONNX_FEATURES, shape: ['batch', layout.featureDim] as (string | number)[] }];
  const outputInfo = [valueInfo(ONNX_FEATURES, outputs[0].shape, 'backbone features (global average pool), what Encoder.embed returns')];
  if (opts.head) {
    const h = g.relu(g.linear(features, layout.fc1, 'fc.0'), 'fc.1');
    g.linear(h, layout.fc2, 'fc.2', ONNX_PROJECTION);
    outputs.push({ name: ONNX_PROJECTION, shape: ['batch', layout.fc2.out] });
    outputInfo.push(valueInfo(ONNX_PROJECTION, outputs[1].shape,
      'projection head output (fc -> ReLU -> fc), not L2-normalised (training normalises it before the contrastive loss)'));
  }
  const inputDoc = `float32 NCHW, ${c.inChannels} channel(s), x = (pixel / 255 - mean[c]) / std[c] with mean ${JSON.stringify(norm.mean)} ` +
    `and std ${JSON.stringify(norm.std)}; trained at ${src.imageSize[0]}x${src.imageSize[1]} (any size >= 8 runs)`;
  const metadata: Record<string, string> = {
    'clsa.format': 'clsa-encoder-onnx',
    'clsa.arch': c.arch,
    'clsa.width': String(c.width),
    'clsa.depth': String(c.depth),
    'clsa.in_channels': String(c.inChannels),
    'clsa.feature_dim': String(layout.featureDim),
    'clsa.image_size': JSON.stringify(src.imageSize),
    'clsa.normalization.mean': JSON.stringify(norm.mean),
    'clsa.normalization.std': JSON.stringify(norm.std),
    'clsa.input': inputDoc,
    'clsa.head': String(opts.head),
    'clsa.batch_norm': opts.foldBatchNorm ? 'folded' : 'nodes',
  };
  if (opts.head) metadata['clsa.proj_dim'] = String(layout.fc2.out);
  const model: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'clsa',
    producerVersion: packageVersion(),
    docString: `CLSA image encoder (${c.arch}, width ${c.width}, depth ${c.depth}) in evaluation mode: input '${ONNX_INPUT}', ` +
      `output '${ONNX_FEATURES}'${opts.head ? ` and '${ONNX_PROJECTION}'` : ''}`,
    graph: {
      name: 'clsa_encoder',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(ONNX_INPUT, inputShape, inputDoc)],
      output: outputInfo,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`ONNX export: the model does not fit the ONNX schema (${err})`);
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return { bytes, info: { bytes: bytes.length, opset: ONNX_OPSET, irVersion: ONNX_IR_VERSION, input: { name: ONNX_INPUT, shape: inputShape }, outputs } };
}

/** Writes the encoder as an ONNX file, atomically (a temp file renamed over `file`). */
export async function writeOnnx(file: string, src: OnnxEncoderSource, options: OnnxExportOptions = {}): Promise<OnnxExportInfo> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`file: expected a path for the .onnx file but got ${describe(file)}`);
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new RangeError(`file: the directory ${dir} of ${file} does not exist`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new RangeError(`file: ${file} is a directory, expected a path for the .onnx file`);
  const { bytes, info } = encodeOnnx(src, options);
  await writeFileAtomic(file, bytes);
  return { ...info, file };
}
