// Explicit augmentation parameters (applyAugmentParams) checked before they reach the native
// pipelines, which index the image with the crop box and the op tables with the op ids.
import type { AugmentParams } from './augment';
import { checkBool, checkInt, checkNumber, describe } from './validate';

/** The most RandAugment ops one view may carry (CLSA_AUGMENT_MAX_OPS). */
export const MAX_OPS = 16;

function checkOp(name: string, op: unknown, opCount: number): void {
  if (typeof op !== 'object' || op === null) throw new TypeError(`${name}: expected { op, magnitude, sign, applied } but got ${describe(op)}`);
  const o = op as AugmentParams['ops'][number];
  checkInt(`${name}.op`, o.op, 0, opCount - 1);
  checkInt(`${name}.magnitude`, o.magnitude, 1, 9);
  if (o.sign !== 1 && o.sign !== -1) throw new RangeError(`${name}.sign: expected 1 or -1 but got ${describe(o.sign)}`);
  checkBool(`${name}.applied`, o.applied);
}

/** Checks one image's parameters for a `height` x `width` source image (op ids below `opCount`,
 * the length of RA_OPS); errors name `name`. */
export function checkAugmentParams(name: string, p: unknown, height: number, width: number, opCount: number): void {
  if (typeof p !== 'object' || p === null) throw new TypeError(`${name}: expected drawn parameters { cropX, cropY, ... } but got ${describe(p)}`);
  const v = p as AugmentParams;
  const x = checkInt(`${name}.cropX`, v.cropX, 0, width - 1), y = checkInt(`${name}.cropY`, v.cropY, 0, height - 1);
  checkInt(`${name}.cropW`, v.cropW, 1, width - x);
  checkInt(`${name}.cropH`, v.cropH, 1, height - y);
  for (const k of ['flip', 'jitter', 'grayscale', 'blur'] as const) checkBool(`${name}.${k}`, v[k]);
  if (!Array.isArray(v.jitterOrder) || v.jitterOrder.length !== 4)
    throw new RangeError(`${name}.jitterOrder: expected 4 integers in [-1, 3] but got ${describe(v.jitterOrder)}`);
  v.jitterOrder.forEach((o, i) => checkInt(`${name}.jitterOrder[${i}]`, o, -1, 3));
  for (const k of ['brightness', 'contrast', 'saturation'] as const) checkNumber(`${name}.${k}`, v[k], (z) => z >= 0, 'a finite number >= 0');
  checkNumber(`${name}.hue`, v.hue, (z) => z >= -0.5 && z <= 0.5, 'a number in [-0.5, 0.5]');
  checkNumber(`${name}.blurSigma`, v.blurSigma, (z) => z >= 0 && z <= 1000, 'a number in [0, 1000]');
  if (!Array.isArray(v.ops) || v.ops.length > MAX_OPS)
    throw new RangeError(`${name}.ops: expected an array of at most ${MAX_OPS} ops but got ${describe(v.ops)}`);
  v.ops.forEach((op, k) => checkOp(`${name}.ops[${k}]`, op, opCount));
}
