// `clsa train`: trains an encoder with a live progress bar; Ctrl-C stops after saving a
// checkpoint. Writes OUT/metrics.jsonl, OUT/model/ (loadEncoder), OUT/checkpoint/ and
// OUT/report.html (loss curves, kNN accuracy, configuration, augmented samples).
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { cropPresets } from '../augment';
import { loadDataset } from '../data';
import { knnAccuracy } from '../eval';
import { imagesToFeatures } from '../data';
import { appendMetrics, METRICS_FILE } from '../metrics';
import { augmentPreviewPng } from '../preview';
import { writeReport } from '../report';
import { AbortError, EpochInfo, ProgressInfo, trainClsa, TrainOptions } from '../train';
import { CliError, intOption, numberOption } from './common';

interface TrainCliOptions {
  data: string; epochs: number; batchSize: number; arch: string; width?: number; crops: string; ddmWeight: number;
  device: string; limit?: number; seed: number; resume?: string; out: string; lr: number;
  temperature: number; ddmTemperature: number; queueSize?: number; evalEvery: number; quiet?: boolean;
}

function bar(fraction: number, width = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return `${m}:${String(s).padStart(2, '0')}`;
}

export function registerTrain(program: Command): void {
  program.command('train')
    .description('train a CLSA encoder (defaults: Fashion-MNIST, resnet-mini, single crop, CPU, a few minutes)')
    .requiredOption('--out <dir>', 'output directory (metrics.jsonl, model/, checkpoint/, report.html)')
    .option('--data <source>', "'fashion-mnist' (full set when installed, else the shipped subset) or a path", 'fashion-mnist')
    .option('--epochs <n>', 'epochs', intOption('--epochs', 1, 1e6), 15)
    .option('--batch-size <n>', 'images per step (multiple of 8, the split-BN groups)', intOption('--batch-size', 8, 1 << 20), 64)
    .option('--arch <arch>', 'resnet-mini | resnet18', 'resnet-mini')
    .option('--width <n>', 'channels of the first stage (default 16 for resnet-mini: CPU-sized; 64 for resnet18)', intOption('--width', 1, 4096))
    .option('--crops <kind>', 'single | multi', 'single')
    .option('--ddm-weight <x>', 'weight of the DDM term (0 = MoCo v2)', numberOption('--ddm-weight', (x) => x >= 0, 'a number >= 0'), 1)
    .option('--temperature <x>', 'contrastive temperature', numberOption('--temperature', (x) => x > 0, 'a number > 0'), 0.2)
    .option('--ddm-temperature <x>', 'DDM temperature', numberOption('--ddm-temperature', (x) => x > 0, 'a number > 0'), 0.2)
    .option('--lr <x>', 'base learning rate per 256 images (scaled to the batch)', numberOption('--lr', (x) => x > 0, 'a number > 0'), 0.24)
    .option('--queue-size <n>', 'queue rows K', intOption('--queue-size', 1, 1 << 26))
    .option('--device <device>', 'auto | cpu | cuda', 'auto')
    .option('--limit <n>', 'train on the first N images only', intOption('--limit', 8, 1 << 30), 6000)
    .option('--eval-every <n>', 'kNN monitor every N epochs', intOption('--eval-every', 1, 1e6), 5)
    .option('--seed <s>', 'seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--resume <dir>', 'continue from a checkpoint directory (e.g. OUT/checkpoint)')
    .option('-q, --quiet', 'no progress bar')
    .action(async (o: TrainCliOptions) => {
      if (!['resnet-mini', 'resnet18'].includes(o.arch)) throw new CliError(`--arch: expected resnet-mini or resnet18 but got "${o.arch}"`);
      if (o.crops !== 'single' && o.crops !== 'multi') throw new CliError(`--crops: expected single or multi but got "${o.crops}"`);
      if (!['auto', 'cpu', 'cuda'].includes(o.device)) throw new CliError(`--device: expected auto, cpu or cuda but got "${o.device}"`);
      const out = path.resolve(o.out);
      fs.mkdirSync(out, { recursive: true });
      const t0 = Date.now();
      const controller = new AbortController();
      let interrupted = 0;
      const onSigint = () => {
        interrupted++;
        if (interrupted > 1) process.exit(130);
        process.stderr.write('\nclsa: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n');
        controller.abort();
      };
      process.on('SIGINT', onSigint);
      const tty = process.stderr.isTTY && !o.quiet;
      let lastLine = 0;
      const onProgress = (p: ProgressInfo) => {
        const done = (p.epoch * p.steps + p.step + 1) / (p.epochs * p.steps);
        const elapsed = (Date.now() - t0) / 1000;
        const line = `epoch ${p.epoch + 1}/${p.epochs} ${bar(done)} step ${p.step + 1}/${p.steps} loss ${p.loss.toFixed(3)} ` +
          `(nce ${p.nceLoss.toFixed(3)} ddm ${p.ddmLoss.toFixed(3)}) acc ${(p.accuracy * 100).toFixed(1)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s ETA ${eta(elapsed / done - elapsed)}`;
        if (tty) process.stderr.write(`\r${line}\x1b[K`);
        else if (!o.quiet && Date.now() - lastLine > 10000) { process.stderr.write(line + '\n'); lastLine = Date.now(); }
      };
      const history: EpochInfo[] = [];
      const onEpochEnd = (e: EpochInfo) => {
        history.push(e);
        appendMetrics(out, { epoch: e.epoch + 1, loss: e.loss, nceLoss: e.nceLoss, ddmLoss: e.ddmLoss, accuracy: e.accuracy,
          knnAccuracy: e.knnAccuracy ?? null, lr: e.lr, seconds: e.seconds, imagesPerSecond: e.imagesPerSecond });
        if (!o.quiet) {
          if (tty) process.stderr.write('\r\x1b[K');
          process.stderr.write(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)} (nce ${e.nceLoss.toFixed(4)}, ddm ${e.ddmLoss.toFixed(4)}), ` +
            `head accuracy ${(e.accuracy * 100).toFixed(1)}%${e.knnAccuracy !== undefined ? `, kNN ${(e.knnAccuracy * 100).toFixed(2)}%` : ''}, ` +
            `${e.seconds.toFixed(1)} s, ${e.imagesPerSecond.toFixed(0)} img/s\n`);
        }
      };
      const options: TrainOptions = {
        data: o.data, epochs: o.epochs, batchSize: o.batchSize, arch: o.arch as TrainOptions['arch'], width: o.width ?? (o.arch === 'resnet-mini' ? 16 : undefined), crops: o.crops,
        ddmWeight: o.ddmWeight, temperature: o.temperature, ddmTemperature: o.ddmTemperature, lr: o.lr, queueSize: o.queueSize,
        device: o.device as TrainOptions['device'], limit: o.limit, seed: o.seed, resume: o.resume,
        signal: controller.signal, onProgress, onEpochEnd, evaluate: { every: o.evalEvery },
        checkpoint: { dir: path.join(out, 'checkpoint'), every: 1, onAbort: true },
      };
      let result;
      try {
        result = await trainClsa(options);
      } catch (err) {
        if (err instanceof AbortError) {
          process.stderr.write(`clsa: stopped; checkpoint in ${path.join(out, 'checkpoint')} (continue with --resume ${path.join(out, 'checkpoint')})\n`);
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        process.off('SIGINT', onSigint);
      }
      const trainSeconds = (Date.now() - t0) / 1000;
      await result.encoder.save(path.join(out, 'model'));

      // Held-out comparison with raw pixels on the same split and the same kNN monitor.
      const train = await loadDataset(o.data, { split: 'train' });
      const test = await loadDataset(o.data, { split: 'test' });
      const results: Record<string, number | string> = {};
      let rawKnn: number | undefined;
      const final = result.history[result.history.length - 1];
      if (train.labels && test.labels) {
        const [n, h, w, c] = train.images.shape;
        const m = Math.min(n, o.limit ?? n);
        const trImages = { data: train.images.data.subarray(0, m * h * w * c), shape: [m, h, w, c] as [number, number, number, number] };
        const raw = await knnAccuracy({ features: imagesToFeatures(trImages), labels: train.labels.subarray(0, m) },
          { features: imagesToFeatures(test.images), labels: test.labels });
        rawKnn = raw.accuracy;
        results['kNN accuracy, CLSA encoder (held-out test split)'] = final?.knnAccuracy !== undefined ? `${(final.knnAccuracy * 100).toFixed(2)}%` : 'n/a';
        results['kNN accuracy, raw pixels (same split, same k and t)'] = `${(raw.accuracy * 100).toFixed(2)}%`;
        results['training images'] = m;
        results['test images'] = test.images.shape[0];
      }
      const preset = cropPresets(o.crops as 'single' | 'multi', Math.min(train.images.shape[1], train.images.shape[2]));
      const png = await augmentPreviewPng({ data: train.images.data.subarray(0, 8 * train.images.shape[1] * train.images.shape[2] * train.images.shape[3]), shape: [8, train.images.shape[1], train.images.shape[2], train.images.shape[3]] },
        { views: preset.views, seed: o.seed });
      const config = { ...result.model.config, data: train.source, epochs: o.epochs, crops: o.crops, limit: o.limit,
        batchSize: o.batchSize };
      await writeReport(out, {
        title: `clsa train — ${train.source}`, config, history: result.history.map((h) => ({ ...h, epoch: h.epoch + 1 })),
        samplesPng: png.png, samplesCaption: `each row: the original, then ${png.columns.slice(1).join(', ')}`,
        timing: { training: trainSeconds, total: (Date.now() - t0) / 1000 }, results,
      });
      result.model.dispose();
      const lines = [
        `trained ${o.epochs} epochs in ${trainSeconds.toFixed(1)} s on ${train.source}`,
        final?.knnAccuracy !== undefined ? `held-out kNN accuracy (k=200, t=0.1): ${(final.knnAccuracy * 100).toFixed(2)}%` : 'no kNN evaluation',
        rawKnn !== undefined ? `raw-pixel kNN accuracy on the same split:  ${(rawKnn * 100).toFixed(2)}%` : '',
        `wrote ${path.join(out, 'model')}/, ${path.join(out, METRICS_FILE)}, ${path.join(out, 'report.html')}`,
      ].filter(Boolean);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
