// `clsa eval`: kNN (and optionally converged linear-probe) accuracy of a trained encoder (--model
// DIR) beside the baselines it must beat — pixels under the same kNN (raw, centred, standardised;
// the form chosen on held-out bank rows), and the same encoder at random initialisation — or of
// the pixel baselines alone (--raw). It scores the source's test split: its own, or the same
// stratified hold-out `clsa train` kept out of training (same --hold-out and --split-seed).
import { Command } from 'commander';
import { loadDataset } from '../data';
import { loadEncoder } from '../encoder';
import { formatScorecard, scorecard } from '../scorecard';
import { CliError, intOption, numberOption, progress } from './common';

interface EvalOptions {
  data: string; model?: string; raw?: boolean; k: number; t: number; linear?: boolean; size?: number; channels?: number; json?: boolean; quiet?: boolean;
  holdOut: number; splitSeed: number;
}

export function registerEval(program: Command): void {
  program.command('eval')
    .description('kNN accuracy (k = 200, t = 0.1) and optionally a linear probe on a data set\'s train/test splits')
    .requiredOption('--data <source>', "data set: 'fashion-mnist', a folder of IDX files, or a folder of images")
    .option('--model <dir>', 'model directory (config.json + weights) whose encoder embeds the images')
    .option('--raw', 'evaluate raw pixels (the baseline) instead of a model')
    .option('-k, --k <n>', 'neighbours of the kNN monitor', intOption('--k', 1), 200)
    .option('-t, --t <temperature>', 'temperature of the kNN weights exp(sim / t)', numberOption('--t', (x) => x > 0, 'a number > 0'), 0.1)
    .option('--linear', 'also fit converged linear probes (L-BFGS, penalty chosen on held-out train rows)')
    .option('--size <pixels>', 'image folders: resize to this size', intOption('--size', 1, 4096))
    .option('--channels <n>', 'image folders: 1 or 3 channels', intOption('--channels', 1, 3))
    .option('--hold-out <x>', 'data without a test split of its own: the fraction (or count) of each class held out as its test split',
      numberOption('--hold-out', (x) => x > 0 && (x < 1 || Number.isInteger(x)), 'a fraction in (0, 1) or a count'), 0.2)
    .option('--split-seed <s>', 'seed of that hold-out', intOption('--split-seed', 0, 2 ** 32 - 1), 0)
    .option('--json', 'print the results as JSON')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: EvalOptions) => {
      if (opts.model && opts.raw) throw new CliError('--model and --raw exclude each other: evaluate either a model or raw pixels');
      if (!opts.model && !opts.raw) throw new CliError('say what to evaluate: --model DIR (a trained encoder) or --raw (raw pixels)');
      if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) throw new CliError(`--channels: expected 1 or 3 but got ${opts.channels}`);
      const p = progress(3 + (opts.model ? 1 : 0), opts.quiet || opts.json);
      const t0 = Date.now();
      const load = { size: opts.size, channels: opts.channels as 1 | 3 | undefined, holdOut: opts.holdOut, splitSeed: opts.splitSeed };
      p.step('loading the train split');
      const train = await loadDataset(opts.data, { ...load, split: 'train' });
      p.step('loading the test split');
      const test = await loadDataset(opts.data, { ...load, split: 'test' });
      if (!train.labels || !test.labels) throw new CliError(`--data ${opts.data}: evaluation needs labels (class sub-folders or IDX label files)`);
      // The encoder (if any) and the baselines it must beat, on the same bank, k and t.
      let encoder;
      if (opts.model) {
        p.step(`loading the encoder in ${opts.model}`);
        encoder = loadEncoder(opts.model);
      }
      p.step(`kNN${opts.linear ? ' and converged linear probes' : ''} on ${train.images.shape[0]} x ${test.images.shape[0]} rows`);
      let card;
      try {
        card = await scorecard(encoder, train, test, { k: opts.k, t: opts.t, linear: opts.linear,
          randomInit: encoder ? { arch: encoder.config.arch, width: encoder.config.width, depth: encoder.config.depth, seed: 0 } : undefined });
      } finally {
        encoder?.dispose();
      }
      p.stop();
      const result = { data: opts.data, bankSource: train.source, testSource: test.source, features: opts.model ? `encoder ${opts.model}` : 'pixels',
        seconds: (Date.now() - t0) / 1000, ...card };
      if (opts.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const lines = [`data: ${opts.data}, features: ${result.features}`, `  bank (train split): ${card.bankSize} images: ${train.source}`,
        `  test split: ${card.querySize} images: ${test.source}`, ...formatScorecard(card)];
      lines.push(`time: ${result.seconds.toFixed(1)} s`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
