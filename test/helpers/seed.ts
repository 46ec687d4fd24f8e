// The seed of the randomised suites (fuzz, kill-writes): fixed by default so that CI is
// reproducible, CLSA_FUZZ_SEED=<n> to replay a run, CLSA_FUZZ_SEED=random for a fresh one. Every
// test name carries it, so a failure report says how to replay it.
export function suiteSeed(): number {
  const env = process.env.CLSA_FUZZ_SEED;
  if (env === undefined || env === '') return 20;
  if (env === 'random') return (Date.now() ^ (process.pid << 16)) >>> 0;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new RangeError(`CLSA_FUZZ_SEED: expected an integer in [0, 2^31 - 1] or 'random' but got ${env}`);
  return n;
}

export function seedNote(seed: number): string {
  return `seed ${seed}, replay with CLSA_FUZZ_SEED=${seed}`;
}
