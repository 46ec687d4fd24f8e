// The scorecard shown wherever a trained encoder is reported: its kNN accuracy (and, when asked,
// a converged linear probe) on one query split against one bank, beside the floors a careful user
// would try first — pixels under the same kNN (raw, centred, standardised: the best is named) and
// the same encoder at random initialisation — so that a result never stands alone.
import { pixelBaselines, PixelBaselines, PixelForm } from './baselines';
import type { Dataset } from './dataset';
import { Encoder, imageStatistics } from './encoder';
import { FeatureMatrix, knnAccuracy, linearProbe, LinearProbeResult } from './eval';
import { FeatureForm, inForm } from './forms';
import { checkDataset } from './dataset-check';
import { checkSameImages } from './baselines';
import { FEATURE_FORMS } from './forms';
import { ClsaModel, ModelConfig, resolveConfig } from './model';
import { checkBool, checkEnum, checkInt, checkNumber, checkOptions, checkSignal, describe } from './validate';
import { assertDisjoint } from './overlap';

export interface ProbeSummary {
  testAccuracy: number;
  weightDecay: number;
  /** The final fit and every fit of the penalty search reached the tolerance. */
  converged: boolean;
  gradientNorm: number;
  iterations: number;
}

export interface Scorecard {
  /** Name of the query split ('validation' or 'test'); querySize its images. */
  split: string;
  bankSize: number;
  querySize: number;
  k: number;
  t: number;
  /** The form the encoders' features are compared in (lib/forms.ts; the pixels are scored in all three). */
  form: FeatureForm;
  encoder?: { knn: number; linear?: ProbeSummary };
  /** `best`: the form chosen on held-out bank rows (`selection`), scored on the query split. */
  pixels: { knn: Record<PixelForm, number>; best: { name: PixelForm; accuracy: number }; selection: PixelBaselines['selection']; linear?: ProbeSummary };
  randomInit?: { knn: number; linear?: ProbeSummary };
  /** encoder kNN - best pixel kNN (points of accuracy as a fraction), when there is an encoder. */
  marginOverPixels?: number;
}

export interface ScorecardOptions {
  split?: string;
  k?: number;
  t?: number;
  /** Form of the encoders' features under the kNN (default 'standardised', bank statistics). */
  form?: FeatureForm;
  /** Also fit converged linear probes (L-BFGS, penalty chosen on held-out bank rows). */
  linear?: boolean;
  /** The architecture of a random-init encoder to score (same as the trained one); omit to skip. */
  randomInit?: Pick<ModelConfig, 'arch' | 'width' | 'depth' | 'seed'>;
  /** The pixel baselines already computed for this bank and query split (`pixelBaselines` with the same
   * k and t, and a probe when `linear`), so that scoring several encoders on one split fits the
   * pixels' probe once. */
  pixels?: PixelBaselines;
  /** Handed the trained encoder's raw features of the bank and the query split once they are
   * computed, for a caller that draws them (the report): embedding them twice would double the
   * slowest part of scoring. */
  onFeatures?: (features: { bank: FeatureMatrix; query: FeatureMatrix }) => void;
  signal?: AbortSignal;
}

/** The caller's pixel baselines, when they can be those of this bank, query split, k and probe. */
function reusedPixels(px: PixelBaselines, bank: Dataset, query: Dataset, k: number, linear: boolean): PixelBaselines {
  const r = px?.knn?.raw;
  const expectK = Math.min(k, bank.images.shape[0]);
  if (!r || r.total !== query.images.shape[0] || r.k !== expectK)
    throw new RangeError(`options.pixels: expected pixelBaselines of this bank and query (${query.images.shape[0]} query rows, k ${expectK}) ` +
      `but got ${r ? `${r.total} query rows, k ${r.k}` : describe(px)}`);
  if (linear && !px.linear) throw new RangeError('options.pixels: expected baselines with a linear probe (options.linear is true) but got none');
  return px;
}

function summary(r: LinearProbeResult): ProbeSummary {
  return {
    testAccuracy: r.testAccuracy, weightDecay: r.weightDecay,
    converged: (r.convergence?.converged ?? false) && r.convergence?.searchConverged !== false,
    gradientNorm: r.convergence?.gradientNorm ?? NaN, iterations: r.convergence?.iterations ?? 0,
  };
}

async function scoreEncoder(encoder: Encoder, bank: Dataset, query: Dataset, o: ScorecardOptions,
                            onFeatures?: ScorecardOptions['onFeatures']): Promise<{ knn: number; linear?: ProbeSummary }> {
  const tr = { features: await encoder.embed(bank.images), labels: bank.labels as Int32Array };
  const te = { features: await encoder.embed(query.images), labels: query.labels as Int32Array };
  onFeatures?.({ bank: tr.features, query: te.features });
  // The probe standardises its inputs itself; the kNN sees the chosen form.
  const f = inForm(tr.features, te.features, o.form ?? 'standardised');
  const knn = await knnAccuracy({ features: f.bank, labels: tr.labels }, { features: f.query, labels: te.labels }, { k: o.k, t: o.t, signal: o.signal });
  const linear = o.linear ? summary(await linearProbe(tr, te, { signal: o.signal })) : undefined;
  return { knn: knn.accuracy, linear };
}

/** Scores `encoder` (if any) and the baselines on `query` with `bank` as the kNN bank and probe training set. */
export async function scorecard(encoder: Encoder | undefined, bank: Dataset, query: Dataset, o: ScorecardOptions = {}): Promise<Scorecard> {
  if (encoder !== undefined && encoder !== null && !(encoder instanceof Encoder)) throw new TypeError(`encoder: expected an Encoder or undefined but got ${describe(encoder)}`);
  checkDataset('bank', bank, { labels: true });
  checkDataset('query', query, { labels: true });
  checkSameImages('bank', bank.images, 'query', query.images);
  o = checkOptions('options', o);
  if (o.split !== undefined && typeof o.split !== 'string') throw new TypeError(`options.split: expected a string but got ${describe(o.split)}`);
  if (o.k !== undefined) checkInt('options.k', o.k, 1);
  if (o.t !== undefined) checkNumber('options.t', o.t, (x) => x > 0, 'a number > 0');
  if (o.form !== undefined) checkEnum('options.form', o.form, FEATURE_FORMS);
  if (o.linear !== undefined) checkBool('options.linear', o.linear);
  checkSignal('options.signal', o.signal);
  if (o.randomInit !== undefined && (typeof o.randomInit !== 'object' || o.randomInit === null))
    throw new TypeError(`options.randomInit: expected { arch?, width?, depth?, seed? } but got ${describe(o.randomInit)}`);
  if (o.randomInit) {
    for (const key of Object.keys(o.randomInit))
      if (!['arch', 'width', 'depth', 'seed'].includes(key)) throw new RangeError(`options.randomInit.${key}: unknown option (known: arch, width, depth, seed)`);
    resolveConfig({ ...o.randomInit, inChannels: bank.images.shape[3], device: 'cpu' }, 'options.randomInit');
  }
  if (encoder && encoder.normalization.channels !== bank.images.shape[3])
    throw new RangeError(`bank.images.shape[3] (C): expected ${encoder.normalization.channels} channels (the encoder's) but got ${bank.images.shape[3]}`);
  assertDisjoint(bank, 'the kNN bank', query, `the ${o.split ?? 'test'} split`);
  const k = o.k ?? 200, t = o.t ?? 0.1;
  const px = o.pixels ? reusedPixels(o.pixels, bank, query, k, o.linear ?? false)
    : await pixelBaselines(bank, query, { knn: { k, t, signal: o.signal }, linear: o.linear ? { signal: o.signal } : false });
  const card: Scorecard = {
    split: o.split ?? 'test', bankSize: bank.images.shape[0], querySize: query.images.shape[0], k, t, form: o.form ?? 'standardised',
    pixels: {
      knn: { raw: px.knn.raw.accuracy, centred: px.knn.centred.accuracy, standardised: px.knn.standardised.accuracy },
      best: px.best, selection: px.selection, linear: px.linear && summary(px.linear),
    },
  };
  if (encoder) {
    card.encoder = await scoreEncoder(encoder, bank, query, { ...o, k, t }, o.onFeatures);
    card.marginOverPixels = card.encoder.knn - px.best.accuracy;
  }
  if (o.randomInit) {
    const [, h, w, c] = bank.images.shape;
    // Unset fields take the model's defaults (a present-but-undefined key would be rejected).
    const arch = Object.fromEntries(Object.entries(o.randomInit).filter(([, v]) => v !== undefined));
    const model = ClsaModel.create({ ...arch, inChannels: c, device: 'cpu' });
    const random = new Encoder(model, imageStatistics(bank.images), [h, w]);
    try {
      card.randomInit = await scoreEncoder(random, bank, query, { ...o, k, t });
    } finally {
      random.dispose();
    }
  }
  return card;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** The scorecard as aligned text lines, for terminals and logs. */
export function formatScorecard(c: Scorecard): string[] {
  if (typeof c !== 'object' || c === null) throw new TypeError(`scorecard: expected a Scorecard from scorecard() but got ${describe(c)}`);
  if (typeof c.split !== 'string') throw new TypeError(`scorecard.split: expected a string but got ${describe(c.split)}`);
  const px = c.pixels as Partial<Scorecard['pixels']> | undefined;
  if (typeof px !== 'object' || px === null || typeof px.knn !== 'object' || typeof px.best !== 'object' || typeof px.selection !== 'object')
    throw new TypeError(`scorecard.pixels: expected { knn, best, selection } but got ${describe(px)}`);
  const probe = (p?: ProbeSummary) => (p ? `, linear probe ${pct(p.testAccuracy)}${p.converged ? '' : ' (not converged)'}` : '');
  const lines = [`${c.split} split: ${c.querySize} images, kNN bank ${c.bankSize} training images, k=${c.k}, t=${c.t}`];
  if (c.encoder) lines.push(`  CLSA encoder          kNN ${pct(c.encoder.knn)} (${c.form} features)${probe(c.encoder.linear)}`);
  lines.push(`  best pixel baseline   kNN ${pct(c.pixels.best.accuracy)} (${c.pixels.best.name}, best on ${c.pixels.selection.heldOut} held-out bank images; raw ${pct(c.pixels.knn.raw)}, ` +
    `centred ${pct(c.pixels.knn.centred)}, standardised ${pct(c.pixels.knn.standardised)})${probe(c.pixels.linear)}`);
  if (c.randomInit) lines.push(`  random-init encoder   kNN ${pct(c.randomInit.knn)} (${c.form} features)${probe(c.randomInit.linear)}`);
  if (c.marginOverPixels !== undefined)
    lines.push(`  margin over the best pixel baseline: ${c.marginOverPixels >= 0 ? '+' : ''}${(c.marginOverPixels * 100).toFixed(2)} points`);
  return lines;
}
