// Small encoders whose batch norm is not the identity: a fresh model has gamma 1, beta 0 and
// running statistics (0, 1), under which a wrong mean/var/gamma/beta mapping would go unseen, so
// every BN layer gets random affine parameters and running statistics drawn from `rng`.
import { Encoder, UInt8Images } from '../../lib/encoder';
import { encoderLayout } from '../../lib/layout';
import { ClsaModel, ModelConfig } from '../../lib/model';
import { Rng } from '../../lib/random';

export function perturbedEncoder(config: ModelConfig, rng: Rng, imageSize: [number, number] = [16, 16]): { encoder: Encoder; params: Float32Array } {
  const fresh = ClsaModel.create({ queueSize: 16, splitBN: 1, ...config });
  const state = fresh.state();
  fresh.dispose();
  const layout = encoderLayout(state.config);
  const p = state.buffers.query_params, s = state.buffers.query_bn_stats;
  const bns = [layout.stemBn, ...layout.blocks.flatMap((b) => [b.bn1, b.bn2, ...(b.shortcut ? [b.shortcut.bn] : [])])];
  for (const bn of bns)
    for (let i = 0; i < bn.c; i++) {
      p[bn.gamma + i] = 0.5 + rng.uniform();
      p[bn.beta + i] = 0.4 * (rng.uniform() - 0.5);
      s[bn.mean + i] = 0.5 * rng.normal();
      s[bn.variance + i] = 0.3 + 2 * rng.uniform();
    }
  state.buffers.key_params = Float32Array.from(p);
  const c = state.config.inChannels;
  const normalization = { channels: c, mean: Array.from({ length: c }, (_, i) => 0.3 + 0.1 * i), std: Array.from({ length: c }, (_, i) => 0.25 + 0.05 * i) };
  return { encoder: new Encoder(ClsaModel.fromState(state), normalization, imageSize), params: p };
}

export function randomImages(rng: Rng, n: number, h: number, w: number, c: number): UInt8Images {
  const data = new Uint8Array(n * h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = rng.nextU32() & 255;
  return { data, shape: [n, h, w, c] };
}

/** max over rows of max|a_i - b_i| / max|b_i|: the error relative to each row's scale (a per-element
 * ratio would blow up on features near zero, which ReLU and pooling make common). */
export function maxRowRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, cols: number): number {
  let worst = 0;
  for (let r = 0; r * cols < b.length; r++) {
    let err = 0, scale = 0;
    for (let j = r * cols; j < (r + 1) * cols; j++) {
      err = Math.max(err, Math.abs(a[j] - b[j]));
      scale = Math.max(scale, Math.abs(b[j]));
    }
    worst = Math.max(worst, err / Math.max(scale, 1e-30));
  }
  return worst;
}
