// Feature forms under the kNN: statistics come from the bank only, applied to both sides.
import { FEATURE_FORMS, inForm } from '../lib/forms';
import { Rng } from '../lib';

const seed = (Date.now() ^ (process.pid << 8)) >>> 0;

function matrix(rng: Rng, n: number, d: number, offset: number) {
  const data = new Float32Array(n * d);
  for (let i = 0; i < data.length; i++) data[i] = offset + (1 + (i % d)) * rng.normal();
  return { data, shape: [n, d] as [number, number] };
}

describe(`feature forms (seed ${seed})`, () => {
  test.each([[7, 3], [33, 17], [5, 1]])('bank %i x %i: centred and standardised use the bank statistics in float64', (n, d) => {
    const rng = new Rng(seed + n);
    const bank = matrix(rng, n, d, 3), query = matrix(rng, 11, d, -2);
    expect(inForm(bank, query, 'raw')).toEqual({ bank, query });
    for (const form of ['centred', 'standardised'] as const) {
      const out = inForm(bank, query, form);
      for (let f = 0; f < d; f++) {
        let s = 0, s2 = 0;
        for (let i = 0; i < n; i++) s += bank.data[i * d + f];
        const mean = s / n;
        for (let i = 0; i < n; i++) s2 += (bank.data[i * d + f] - mean) ** 2;
        const sd = form === 'standardised' && s2 / n > 1e-12 ? Math.sqrt(s2 / n) : 1;
        for (const [src, dst, rows] of [[bank, out.bank, n], [query, out.query, 11]] as const)
          for (let i = 0; i < rows; i++) {
            const want = (src.data[i * d + f] - mean) / sd;
            expect({ seed, form, i, f, ok: Math.abs(dst.data[i * d + f] - want) <= 1e-4 * (1 + Math.abs(want)) }).toEqual({ seed, form, i, f, ok: true });
          }
      }
    }
  });

  test('the three forms, in the order the baselines list them', () => {
    expect(FEATURE_FORMS).toEqual(['raw', 'centred', 'standardised']);
  });
});
