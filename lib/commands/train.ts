// `clsa train`: trains an encoder from a named recipe (--preset, default 'quick'), monitors kNN on
// a validation split carved from the training data, then scores the test split once beside the
// baselines (best of raw / centred / standardised pixels under the same kNN, random init). Ctrl-C
// stops after saving a checkpoint. Writes OUT/metrics.jsonl, OUT/model/ (loadEncoder),
// OUT/checkpoint/ and OUT/report.html.
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { loadDataset } from '../data';
import { appendMetrics, METRICS_FILE } from '../metrics';
import { augmentPreviewPng } from '../preview';
import { RECIPE_NAMES, RecipeName, recipeOptions, RECIPES } from '../recipes';
import { writeReport } from '../report';
import { formatScorecard, scorecard, Scorecard } from '../scorecard';
import { sliceDataset, validationSplit } from '../split';
import { AbortError, EpochInfo, ProgressInfo, trainClsa, TrainOptions } from '../train';
import { cropPresets } from '../augment';
import { DeviceName, resolveDevice } from '../device';
import { cpuPrecisionError, ModelPrecision } from '../model';
import { CliError, intOption, liveBar, numberOption } from './common';

interface TrainCliOptions {
  preset: string; data: string; epochs?: number; batchSize?: number; arch?: string; width?: number; crops?: string;
  ddmWeight?: number; device: string; limit?: number; seed: number; resume?: string; out: string; lr?: number;
  warmupEpochs?: number; temperature?: number; ddmTemperature?: number; queueSize?: number; evalEvery: number;
  validation: number; linear?: boolean; quiet?: boolean; weakScale?: [number, number]; symmetric?: boolean;
  precision?: string;
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return `${m}:${String(s).padStart(2, '0')}`;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export function registerTrain(program: Command): void {
  program.command('train')
    .description(`train a CLSA encoder from a recipe (default 'quick': Fashion-MNIST, resnet-mini, single crop, a few CPU minutes)`)
    .requiredOption('--out <dir>', 'output directory (metrics.jsonl, model/, checkpoint/, report.html)')
    .option('--preset <name>', `recipe whose settings the other options override: ${RECIPE_NAMES.map((n) => `${n} (${RECIPES[n].summary})`).join('; ')}`, 'quick')
    .option('--data <source>', "'fashion-mnist' (full set when installed, else the shipped subset) or a path", 'fashion-mnist')
    .option('--epochs <n>', 'epochs', intOption('--epochs', 1, 1e6))
    .option('--batch-size <n>', 'images per step (multiple of the split-BN groups)', intOption('--batch-size', 8, 1 << 20))
    .option('--arch <arch>', 'resnet-mini | resnet18')
    .option('--width <n>', 'channels of the first stage', intOption('--width', 1, 4096))
    .option('--crops <kind>', 'single | multi')
    .option('--ddm-weight <x>', 'weight of the DDM term (0 = MoCo v2)', numberOption('--ddm-weight', (x) => x >= 0, 'a number >= 0'))
    .option('--temperature <x>', 'contrastive temperature', numberOption('--temperature', (x) => x > 0, 'a number > 0'))
    .option('--ddm-temperature <x>', 'DDM temperature', numberOption('--ddm-temperature', (x) => x > 0, 'a number > 0'))
    .option('--lr <x>', 'base learning rate per 256 images (scaled to the batch)', numberOption('--lr', (x) => x > 0, 'a number > 0'))
    .option('--warmup-epochs <x>', 'epochs of linear learning-rate warm-up', numberOption('--warmup-epochs', (x) => x >= 0, 'a number >= 0'))
    .option('--weak-scale <lo,hi>', 'crop area range of the key and weak views (default 0.2,1 in MoCo v2)', (v: string): [number, number] => {
      const p = v.split(',').map(Number);
      if (p.length !== 2 || !p.every((x) => x > 0 && x <= 1) || p[0] > p[1]) throw new InvalidArgumentError(`--weak-scale: expected lo,hi with 0 < lo <= hi <= 1 but got "${v}"`);
      return [p[0], p[1]];
    })
    .option('--symmetric', 'symmetrised contrastive term: the key and weak views each the query against the other\'s key (a departure from the reference)')
    .option('--no-symmetric', 'the reference\'s one-directional contrastive term, whatever the preset says')
    .option('--queue-size <n>', 'queue rows K (default: scaled to the data)', intOption('--queue-size', 1, 1 << 26))
    .option('--device <device>', 'auto | cpu | cuda', 'auto')
    .option('--precision <p>', "fp32 (default) | bf16 (on the CPU where `clsa info` says bf16 yes: bf16 products, fp32 accumulation) | tf32 | fp16 (CUDA)")
    .option('--limit <n>', 'train on the first N images (after the validation split)', intOption('--limit', 8, 1 << 30))
    .option('--validation <n>', 'training images held out (from the end) for the kNN monitor: a count, or a fraction < 1; 0 = monitor the test split',
      numberOption('--validation', (x) => x >= 0, 'a count or a fraction >= 0'), 1 / 6)
    .option('--eval-every <n>', 'kNN monitor every N epochs', intOption('--eval-every', 1, 1e6), 5)
    .option('--linear', 'also fit converged linear probes on the encoder, pixels and random init at the end')
    .option('--seed <s>', 'seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--resume <dir>', 'continue from a checkpoint directory (e.g. OUT/checkpoint)')
    .option('-q, --quiet', 'no progress bar')
    .action(async (o: TrainCliOptions) => {
      if (!(RECIPE_NAMES as string[]).includes(o.preset)) throw new CliError(`--preset: expected one of ${RECIPE_NAMES.join(', ')} but got "${o.preset}"`);
      if (o.arch !== undefined && !['resnet-mini', 'resnet18'].includes(o.arch)) throw new CliError(`--arch: expected resnet-mini or resnet18 but got "${o.arch}"`);
      if (o.crops !== undefined && o.crops !== 'single' && o.crops !== 'multi') throw new CliError(`--crops: expected single or multi but got "${o.crops}"`);
      if (!['auto', 'cpu', 'cuda'].includes(o.device)) throw new CliError(`--device: expected auto, cpu or cuda but got "${o.device}"`);
      if (o.precision !== undefined && !['fp32', 'bf16', 'tf32', 'fp16'].includes(o.precision))
        throw new CliError(`--precision: expected fp32, bf16, tf32 or fp16 but got "${o.precision}"`);
      // Named as the command line names it, before any data is loaded.
      const cpuWhy = o.precision !== undefined && resolveDevice('--device', o.device as DeviceName) === 'cpu'
        ? cpuPrecisionError('--precision', o.precision as ModelPrecision) : undefined;
      if (cpuWhy) throw new CliError(cpuWhy);
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
      const bar = liveBar(o.quiet);
      const onProgress = (p: ProgressInfo) => {
        const done = (p.epoch * p.steps + p.step + 1) / (p.epochs * p.steps);
        const elapsed = (Date.now() - t0) / 1000;
        bar.update(done, `epoch ${p.epoch + 1}/${p.epochs} step ${p.step + 1}/${p.steps} loss ${p.loss.toFixed(3)} ` +
          `(nce ${p.nceLoss.toFixed(3)} ddm ${p.ddmLoss.toFixed(3)}) acc ${(p.accuracy * 100).toFixed(1)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s, ${eta(elapsed / done - elapsed)} left`);
      };
      const onEpochEnd = (e: EpochInfo) => {
        appendMetrics(out, { epoch: e.epoch + 1, loss: e.loss, nceLoss: e.nceLoss, ddmLoss: e.ddmLoss, accuracy: e.accuracy,
          knnAccuracy: e.knnAccuracy ?? null, knnSplit: e.knnSplit ?? null, lr: e.lr, seconds: e.seconds, imagesPerSecond: e.imagesPerSecond });
        bar.log(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)} (nce ${e.nceLoss.toFixed(4)}, ddm ${e.ddmLoss.toFixed(4)}), ` +
          `head accuracy ${(e.accuracy * 100).toFixed(1)}%${e.knnAccuracy !== undefined ? `, ${e.knnSplit} kNN ${pct(e.knnAccuracy)}` : ''}, ` +
          `${e.seconds.toFixed(1)} s, ${e.imagesPerSecond.toFixed(0)} img/s`);
      };
      const validation = o.validation > 0 ? o.validation : false;
      const options: TrainOptions = recipeOptions({
        preset: o.preset as RecipeName, data: o.data, epochs: o.epochs, batchSize: o.batchSize, arch: o.arch as TrainOptions['arch'],
        width: o.width, crops: o.crops as TrainOptions['crops'], ddmWeight: o.ddmWeight, temperature: o.temperature,
        ddmTemperature: o.ddmTemperature, lr: o.lr, warmupEpochs: o.warmupEpochs, queueSize: o.queueSize, weakScale: o.weakScale, symmetric: o.symmetric,
        device: o.device as TrainOptions['device'], precision: o.precision as TrainOptions['precision'], limit: o.limit, validation, seed: o.seed, resume: o.resume,
        signal: controller.signal, onProgress, onEpochEnd, evaluate: { every: o.evalEvery },
        checkpoint: { dir: path.join(out, 'checkpoint'), every: 1, onAbort: true },
      });
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
        bar.stop();
        process.off('SIGINT', onSigint);
      }
      const trainSeconds = (Date.now() - t0) / 1000;
      await result.encoder.save(path.join(out, 'model'));

      // The test split, scored once, beside the baselines on the same bank, k and t; the
      // monitored validation split gets its best pixel baseline too, for the chart.
      const full = await loadDataset(o.data, { split: 'train' });
      const test = await loadDataset(o.data, { split: 'test' });
      const split = validation === false ? { train: full, validation: undefined } : validationSplit(full, validation);
      const bank = options.limit !== undefined ? sliceDataset(split.train, options.limit) : split.train;
      let card: Scorecard | undefined, valCard: Scorecard | undefined;
      const cfg = result.model.config;
      if (bank.labels && test.labels) {
        if (!o.quiet) process.stderr.write('clsa: scoring the test split beside the baselines\n');
        if (split.validation?.labels) valCard = await scorecard(undefined, bank, split.validation, { split: 'validation' });
        card = await scorecard(result.encoder, bank, test, { split: 'test', linear: o.linear,
          randomInit: { arch: cfg.arch, width: cfg.width, depth: cfg.depth, seed: o.seed } });
        appendMetrics(out, { final: true, scorecard: card, validationBaselines: valCard?.pixels ?? null, trainSeconds });
      }
      const final = result.history[result.history.length - 1];
      const [, h, w, c] = full.images.shape;
      // The views this run trained on (a preset's own crops, or the reference presets), strong ones
      // left out for MoCo v2.
      const crops = options.crops ?? 'single';
      const trained = typeof crops === 'string' ? cropPresets(crops, Math.min(h, w)) : crops;
      const views = [trained.key, ...trained.weak, ...(cfg.ddmWeight === 0 ? [] : trained.strong)];
      const png = await augmentPreviewPng({ data: full.images.data.subarray(0, 8 * h * w * c), shape: [8, h, w, c] }, { views, seed: o.seed });
      const results: Record<string, number | string> = {};
      if (card) {
        results[`test kNN, CLSA encoder (bank ${card.bankSize}, k=${card.k}, t=${card.t})`] = pct(card.encoder!.knn);
        results[`test kNN, best pixel baseline (${card.pixels.best.name})`] = pct(card.pixels.best.accuracy);
        results['test kNN, raw / centred / standardised pixels'] = `${pct(card.pixels.knn.raw)} / ${pct(card.pixels.knn.centred)} / ${pct(card.pixels.knn.standardised)}`;
        results['test kNN, random-init encoder'] = pct(card.randomInit!.knn);
        results['margin over the best pixel baseline'] = `${((card.marginOverPixels ?? 0) * 100).toFixed(2)} points`;
        if (card.encoder?.linear) results['linear probe (converged): encoder / pixels / random init'] =
          `${pct(card.encoder.linear.testAccuracy)} / ${pct(card.pixels.linear!.testAccuracy)} / ${pct(card.randomInit!.linear!.testAccuracy)}`;
        results['training images (kNN bank)'] = card.bankSize;
        results['test images'] = card.querySize;
      }
      await writeReport(out, {
        title: `clsa train — ${full.source}`, config: { preset: o.preset, ...cfg, data: full.source, epochs: options.epochs,
          crops: typeof options.crops === 'string' ? options.crops : JSON.stringify(options.crops), limit: options.limit, batchSize: options.batchSize, validation: validation === false ? 'none (test split monitored)' : validation },
        history: result.history.map((e) => ({ ...e, epoch: e.epoch + 1 })),
        knnSplit: final?.knnSplit,
        baselines: valCard && final?.knnSplit === 'validation' ? [{ name: `pixels (${valCard.pixels.best.name})`, accuracy: valCard.pixels.best.accuracy }]
          : card ? [{ name: `pixels (${card.pixels.best.name})`, accuracy: card.pixels.best.accuracy }] : [],
        samplesPng: png.png, samplesCaption: `each row: the original, then ${png.columns.slice(1).join(', ')}`,
        timing: { training: trainSeconds, total: (Date.now() - t0) / 1000 }, results,
      });
      result.model.dispose();
      const lines = [
        `trained ${options.epochs ?? '?'} epochs in ${trainSeconds.toFixed(1)} s on ${full.source} (preset ${o.preset})`,
        ...(card ? formatScorecard(card) : ['no labels: no evaluation']),
        `wrote ${path.join(out, 'model')}/, ${path.join(out, METRICS_FILE)}, ${path.join(out, 'report.html')}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
