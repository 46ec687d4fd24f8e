// `clsa embed`: the encoder's features of a data set as NumPy files (OUT.npy float32 [n, d],
// OUT.labels.npy int32, OUT.json with classes and file names) for np.load in another stack.
import { Command } from 'commander';
import { embedToNpy } from '../embeddings';
import { loadEncoder } from '../encoder';
import { CliError, intOption } from './common';

interface EmbedCliOptions { model: string; data: string; out: string; split: string; size?: number; channels?: number; batch?: number; json?: boolean }

export function registerEmbed(program: Command): void {
  program.command('embed')
    .description('write the encoder\'s features of a data set as .npy (with labels and file names where the source has them)')
    .requiredOption('--model <dir>', 'model directory (OUT/model of clsa train)')
    .requiredOption('--data <source>', "'fashion-mnist', a folder of IDX files, or a folder of images")
    .requiredOption('--out <file.npy>', 'features file; OUT.labels.npy and OUT.json are written beside it')
    .option('--split <split>', 'train | test (a folder without train/ and test/ is embedded whole)', 'train')
    .option('--size <pixels>', 'image folders: resize to this size (default: the size the encoder was trained at)', intOption('--size', 8, 4096))
    .option('--channels <n>', 'image folders: 1 or 3 channels (default: the encoder\'s)', intOption('--channels', 1, 3))
    .option('--batch <n>', 'images per native call', intOption('--batch', 1, 1 << 20))
    .option('--json', 'print what was written as JSON')
    .action(async (opts: EmbedCliOptions) => {
      if (opts.split !== 'train' && opts.split !== 'test') throw new CliError(`--split: expected train or test but got "${opts.split}"`);
      if (opts.channels === 2) throw new CliError('--channels: expected 1 or 3 but got 2');
      if (!opts.out.endsWith('.npy')) throw new CliError(`--out: expected a file name ending in .npy but got "${opts.out}"`);
      const encoder = loadEncoder(opts.model);
      try {
        const r = await embedToNpy(encoder, opts.data, opts.out,
          { split: opts.split, size: opts.size, channels: opts.channels as 1 | 3 | undefined, batch: opts.batch });
        if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        else process.stdout.write(`embedded ${r.count} images (${r.featureDim} features each): ${r.files.join(', ')}\n`);
      } finally {
        encoder.dispose();
      }
    });
}
