// `clsa eval`: kNN (and optionally linear-probe) accuracy of a data set's features. With --raw the
// features are the raw pixels (the baseline); with --model DIR the trained encoder's embeddings.
import { Command } from 'commander';
import { loadDataset } from '../data';
import { knnAccuracy, linearProbe, LabelledFeatures } from '../eval';
import { imagesToFeatures } from '../data';
import { loadEncoder } from '../encoder';
import { CliError, intOption, numberOption, progress } from './common';

interface EvalOptions {
  data: string; model?: string; raw?: boolean; k: number; t: number; linear?: boolean; epochs: number;
  device: 'cpu' | 'cuda'; size?: number; channels?: number; json?: boolean; quiet?: boolean;
}

export function registerEval(program: Command): void {
  program.command('eval')
    .description('kNN accuracy (k = 200, t = 0.1) and optionally a linear probe on a data set\'s train/test splits')
    .requiredOption('--data <source>', "data set: 'fashion-mnist', a folder of IDX files, or a folder of images")
    .option('--model <dir>', 'model directory (config.json + weights) whose encoder embeds the images')
    .option('--raw', 'evaluate raw pixels (the baseline) instead of a model')
    .option('-k, --k <n>', 'neighbours of the kNN monitor', intOption('--k', 1), 200)
    .option('-t, --t <temperature>', 'temperature of the kNN weights exp(sim / t)', numberOption('--t', (x) => x > 0, 'a number > 0'), 0.1)
    .option('--linear', 'also train a linear probe')
    .option('--epochs <n>', 'epochs of the linear probe', intOption('--epochs', 1, 100000), 100)
    .option('--device <device>', 'cpu or cuda (kNN)', 'cpu')
    .option('--size <pixels>', 'image folders: resize to this size', intOption('--size', 1, 4096))
    .option('--channels <n>', 'image folders: 1 or 3 channels', intOption('--channels', 1, 3))
    .option('--json', 'print the results as JSON')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: EvalOptions) => {
      if (opts.device !== 'cpu' && opts.device !== 'cuda') throw new CliError(`--device: expected cpu or cuda but got "${opts.device}"`);
      if (opts.model && opts.raw) throw new CliError('--model and --raw exclude each other: evaluate either a model or raw pixels');
      if (!opts.model && !opts.raw) throw new CliError('say what to evaluate: --model DIR (a trained encoder) or --raw (raw pixels)');
      if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) throw new CliError(`--channels: expected 1 or 3 but got ${opts.channels}`);
      const p = progress((opts.linear ? 4 : 3) + (opts.model ? 1 : 0), opts.quiet || opts.json);
      const t0 = Date.now();
      const load = { size: opts.size, channels: opts.channels as 1 | 3 | undefined };
      p.step('loading the train split');
      const train = await loadDataset(opts.data, { ...load, split: 'train' });
      p.step('loading the test split');
      const test = await loadDataset(opts.data, { ...load, split: 'test' });
      if (!train.labels || !test.labels) throw new CliError(`--data ${opts.data}: evaluation needs labels (class sub-folders or IDX label files)`);
      let tr: LabelledFeatures, te: LabelledFeatures;
      if (opts.model) {
        p.step(`embedding with the encoder in ${opts.model}`);
        const encoder = loadEncoder(opts.model);
        try {
          tr = { features: await encoder.embed(train.images), labels: train.labels };
          te = { features: await encoder.embed(test.images), labels: test.labels };
        } finally {
          encoder.dispose();
        }
      } else {
        tr = { features: imagesToFeatures(train.images), labels: train.labels };
        te = { features: imagesToFeatures(test.images), labels: test.labels };
      }
      p.step(`kNN on ${train.images.shape[0]} x ${test.images.shape[0]} rows`);
      const knn = await knnAccuracy(tr, te, { k: opts.k, t: opts.t, device: opts.device });
      let linear;
      if (opts.linear) {
        p.step(`linear probe, ${opts.epochs} epochs`);
        linear = await linearProbe(tr, te, { epochs: opts.epochs });
      }
      p.stop();
      const result = {
        data: train.source, features: opts.model ? `encoder ${opts.model}` : 'raw pixels', trainRows: train.images.shape[0], testRows: test.images.shape[0],
        knn: { k: knn.k, t: opts.t, accuracy: knn.accuracy, perClass: knn.perClass },
        linear: linear && { epochs: opts.epochs, testAccuracy: linear.testAccuracy, trainAccuracy: linear.trainAccuracy },
        seconds: (Date.now() - t0) / 1000,
      };
      if (opts.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const classes = train.classes ?? knn.perClass.map((_, i) => String(i));
      const lines = [
        `data: ${result.data} (${result.trainRows} train, ${result.testRows} test), features: ${result.features}`,
        `kNN (k = ${knn.k}, t = ${opts.t}): ${(knn.accuracy * 100).toFixed(2)}%`,
        ...knn.perClass.map((a, c) => `  ${(classes[c] ?? String(c)).padEnd(14)} ${a === null ? '–' : (a * 100).toFixed(1) + '%'}`),
      ];
      if (linear) lines.push(`linear probe (${opts.epochs} epochs): test ${(linear.testAccuracy * 100).toFixed(2)}%, train ${(linear.trainAccuracy * 100).toFixed(2)}%`);
      lines.push(`time: ${result.seconds.toFixed(1)} s`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
