// How uint8 pixels become an encoder's float input; its own module because the encoder, the ONNX
// export and the embedding writers all carry it.
import { checkInt, describe } from './validate';

/** How uint8 images are turned into the encoder's float input. */
export interface ImageNormalization {
  channels: number;
  /** Per-channel mean and standard deviation of pixel/255. */
  mean: number[];
  std: number[];
}

/** Checks a normalisation (finite means, finite stds > 0, one per channel; `channels` when the
 * encoder fixes them): a zero or NaN std would turn every pixel into NaN or infinity downstream. */
export function checkNormalization(name: string, n: unknown, channels?: number): ImageNormalization {
  if (typeof n !== 'object' || n === null)
    throw new TypeError(`${name}: expected { channels, mean: number[], std: number[] } but got ${describe(n)}`);
  const v = n as ImageNormalization;
  const c = checkInt(`${name}.channels`, v.channels, 1, 64);
  if (channels !== undefined && c !== channels)
    throw new RangeError(`${name}.channels: expected ${channels} (the encoder's input channels) but got ${c}`);
  for (const k of ['mean', 'std'] as const) {
    const a = v[k];
    if (!Array.isArray(a) || a.length !== c)
      throw new RangeError(`${name}.${k}: expected ${c} number(s), one per channel, but got ${describe(a)}`);
    a.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isFinite(x) || (k === 'std' && !(x > 0)))
        throw new RangeError(`${name}.${k}[${i}]: expected a finite number${k === 'std' ? ' > 0' : ''} but got ${describe(x)}`);
    });
  }
  return v;
}

/** An encoder's reference image size [H, W]: sides of at least 8 pixels, the smallest it takes. */
export function checkImageSize(name: string, v: unknown): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw new RangeError(`${name}: expected [H, W] but got ${describe(v)}`);
  v.forEach((x, i) => checkInt(`${name}[${i}]`, x, 8, 8192));
  return v as [number, number];
}
