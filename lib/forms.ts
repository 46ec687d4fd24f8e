// The forms in which features are compared by the cosine kNN: raw, mean-centred, or standardised
// per feature, with the statistics of the bank only (never of the scored split). Cosine similarity
// is blind to scale but not to an offset: ReLU features, like pixels, share a large positive mean
// that every pair of rows has in common, and per-feature scale decides which dimensions dominate.
// Pixels and encoders are offered the same three forms, so neither is compared in a handicapped one.
import { featureStats, FeatureMatrix, standardize } from './eval';
import { checkEnum, checkHostTensor } from './validate';

export type FeatureForm = 'raw' | 'centred' | 'standardised';
export const FEATURE_FORMS: readonly FeatureForm[] = ['raw', 'centred', 'standardised'];

/** `bank` and `query` in `form`, with the mean (and std) of the bank's rows. */
export function inForm(bank: FeatureMatrix, query: FeatureMatrix, form: FeatureForm): { bank: FeatureMatrix; query: FeatureMatrix } {
  const dims: Record<string, number> = {};
  checkHostTensor('bank', bank, ['N', 'D'], dims);
  checkHostTensor('query', query, ['M', 'D'], dims);
  checkEnum('form', form, FEATURE_FORMS);
  if (form === 'raw') return { bank, query };
  const [n, d] = bank.shape, m = query.shape[0];
  const { mean, std } = featureStats(bank.data, n, d);
  if (form === 'centred') std.fill(1);
  return { bank: { data: standardize(bank.data, n, d, mean, std), shape: [n, d] }, query: { data: standardize(query.data, m, d, mean, std), shape: [m, d] } };
}
