// The learning-rate schedule: cosine decay per epoch, as the reference adjusts it, after an
// optional linear warm-up per step. A pure function of (epoch, step), so a resumed run follows
// the same schedule as an uninterrupted one.
import { checkInt, checkNumber, describe } from '../validate';

/** The learning rate of an epoch: cosine decay from the base rate, per epoch as the reference. */
export function epochLr(baseLr: number, epoch: number, epochs: number): number {
  checkNumber('baseLr', baseLr, (x) => x >= 0, 'a number >= 0');
  checkInt('epochs', epochs, 1);
  checkInt('epoch', epoch, 0, epochs);
  return baseLr * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs));
}

export interface Schedule {
  /** Learning rate at the batch base (already scaled to the batch size). */
  baseLr: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Epochs of linear warm-up from ~0 to the cosine curve (0 = none). */
  warmupEpochs: number;
}

/** The learning rate of step `step` of epoch `epoch`. */
export function scheduledLr(s: Schedule, epoch: number, step: number): number {
  if (typeof s !== 'object' || s === null) throw new TypeError(`schedule: expected { baseLr, epochs, stepsPerEpoch, warmupEpochs } but got ${describe(s)}`);
  checkNumber('schedule.baseLr', s.baseLr, (x) => x >= 0, 'a number >= 0');
  checkInt('schedule.epochs', s.epochs, 1);
  checkInt('epoch', epoch, 0, s.epochs);
  checkInt('schedule.stepsPerEpoch', s.stepsPerEpoch, 1);
  checkNumber('schedule.warmupEpochs', s.warmupEpochs, (x) => x >= 0, 'a number >= 0');
  checkInt('step', step, 0);
  const lr = epochLr(s.baseLr, epoch, s.epochs);
  const warm = s.warmupEpochs * s.stepsPerEpoch;
  const at = epoch * s.stepsPerEpoch + step;
  return warm > 0 && at < warm ? lr * (at + 1) / warm : lr;
}
