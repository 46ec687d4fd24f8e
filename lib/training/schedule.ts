// The learning-rate schedule: cosine decay per epoch, as the reference adjusts it, after an
// optional linear warm-up per step. A pure function of (epoch, step), so a resumed run follows
// the same schedule as an uninterrupted one.

/** The learning rate of an epoch: cosine decay from the base rate, per epoch as the reference. */
export function epochLr(baseLr: number, epoch: number, epochs: number): number {
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
  const lr = epochLr(s.baseLr, epoch, s.epochs);
  const warm = s.warmupEpochs * s.stepsPerEpoch;
  const at = epoch * s.stepsPerEpoch + step;
  return warm > 0 && at < warm ? lr * (at + 1) / warm : lr;
}
