// `clsa augment`: a PNG grid of originals with their weak and strong views.
import { Command } from 'commander';
import { loadDataset } from '../data';
import { writeAugmentPreview } from '../preview';
import { CliError, intOption } from './common';

export function registerAugment(program: Command): void {
  program.command('augment')
    .description('write a PNG grid of images with their weak and strong views (what the model sees)')
    .requiredOption('--out <file.png>', 'output PNG')
    .option('--data <source>', "'fashion-mnist' or a path", 'fashion-mnist')
    .option('--n <rows>', 'images (rows)', intOption('--n', 1, 256), 8)
    .option('--crops <kind>', 'single | multi (default: two weak and two strong full-size views)')
    .option('--seed <s>', 'seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .action(async (o: { out: string; data: string; n: number; crops?: string; seed: number }) => {
      if (o.crops !== undefined && o.crops !== 'single' && o.crops !== 'multi') throw new CliError(`--crops: expected single or multi but got "${o.crops}"`);
      const ds = await loadDataset(o.data, { split: 'train' });
      const r = await writeAugmentPreview(ds, o.out, { n: o.n, seed: o.seed, preset: o.crops as 'single' | 'multi' | undefined });
      process.stdout.write(`wrote ${r.path} (${r.width}x${r.height}): ${r.columns.join(' | ')}\n`);
    });
}
