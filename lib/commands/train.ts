// `clsa train`: trains an encoder from a named recipe (--preset, default 'quick'), monitors kNN on
// a validation split carved from the training data, then scores the test split once beside the
// baselines (pixels under the same kNN, random init). A source without a test split of its own
// gives up a stratified hold-out as its test split before training; without any test split the
// validation split is scored instead, and the output says so. Ctrl-C stops after saving a
// checkpoint. Writes OUT/metrics.jsonl, OUT/model/ (loadEncoder), OUT/checkpoint/ and OUT/report.html.
// Under `mpirun -np R` every rank trains its share of each batch (docs/distributed.md); rank 0
// alone prints progress, writes OUT and scores the encoder.
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import { Dataset, loadDataset, NoTestSplitError } from '../data';
import { appendMetrics, METRICS_FILE } from '../metrics';
import { augmentPreviewPng } from '../preview';
import { RECIPE_NAMES, RecipeName, recipeOptions, RECIPES } from '../recipes';
import { writeReport } from '../report';
import { reportViews } from '../report-map';
import type { ReportViews } from '../report-types';
import type { Encoder } from '../encoder';
import type { FeatureMatrix } from '../eval';
import type { FeatureForm } from '../forms';
import { formatScorecard, scorecard, Scorecard } from '../scorecard';
import { assertDisjoint } from '../overlap';
import { AbortError, EpochInfo, ProgressInfo, trainClsa, TrainOptions } from '../train';
import { DeviceName, resolveDevice } from '../device';
import { DISTRIBUTED_OPTIONS, DistributedOption, openDistributed } from '../distributed';
import { cpuPrecisionError, ModelPrecision } from '../model';
import { CliError, intOption, liveBar, numberOption } from './common';

interface TrainCliOptions {
  preset: string; data: string; epochs?: number; batchSize?: number; arch?: string; width?: number; crops?: string;
  ddmWeight?: number; device: string; limit?: number; seed: number; resume?: string; out: string; lr?: number;
  warmupEpochs?: number; temperature?: number; ddmTemperature?: number; queueSize?: number; evalEvery: number;
  validation: number; linear?: boolean; quiet?: boolean; weakScale?: [number, number]; symmetric?: boolean; lossReduction?: string;
  validationRows: string; splitSeed: number; holdOut: number; size?: number; channels?: number; forceResume?: boolean; precision?: string;
  distributed: string;
}

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return `${m}:${String(s).padStart(2, '0')}`;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** The report's map and neighbour grid of the scored split (else whichever evaluation split there
 * is, unlabelled), from the scorecard's features where it made them. A failure here costs the
 * drawings, not the run: the page says why instead. */
async function featureViews(encoder: Encoder, bank: Dataset, drawn: { split: string; data: Dataset } | undefined,
                            features: { bank: FeatureMatrix; query: FeatureMatrix } | undefined, form: FeatureForm, seed: number): Promise<ReportViews | { note: string }> {
  if (!drawn) return { note: 'no test or validation split: there is no split to draw' };
  try {
    const f = features ?? { bank: await encoder.embed(bank.images), query: await encoder.embed(drawn.data.images) };
    return await reportViews(bank, drawn.data, f, { split: drawn.split, form, seed });
  } catch (err) {
    process.stderr.write(`clsa: the report's map and neighbour grid were not drawn: ${(err as Error).message}\n`);
    return { note: `the map and the neighbour grid could not be drawn: ${(err as Error).message}` };
  }
}

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
    .option('--loss-reduction <how>', "sum (the reference: the crops' terms added) | mean (each sum divided by its number of terms; a departure, for multi-crop)")
    .option('--queue-size <n>', 'queue rows K (default: scaled to the data)', intOption('--queue-size', 1, 1 << 26))
    .option('--device <device>', 'auto | cpu | cuda', 'auto')
    .option('--distributed <how>', "auto (when started by Open MPI's mpirun with several ranks, each trains its share of every batch: over NCCL with --device cuda where libnccl.so.2 loads, else MPI) | mpi | nccl | none", 'auto')
    .option('--precision <p>', "fp32 (default) | bf16 (on the CPU where `clsa info` says bf16 yes: bf16 products, fp32 accumulation) | tf32 | fp16 (CUDA)")
    .option('--limit <n>', 'train on N images of the training split (after the validation split; drawn per class, or the first N with --validation-rows last)',
      intOption('--limit', 8, 1 << 30))
    .option('--validation <n>', 'training images held out for the kNN monitor: a count, or a fraction < 1; 0 = monitor the test split',
      numberOption('--validation', (x) => x >= 0, 'a count or a fraction >= 0'), 1 / 6)
    .option('--validation-rows <how>', "stratified (per class, seeded by --split-seed) or last (the last rows: the recipe study's protocol)", 'stratified')
    .option('--split-seed <s>', 'seed of the validation split, the --limit subset and the test hold-out', intOption('--split-seed', 0, 2 ** 32 - 1), 0)
    .option('--hold-out <x>', 'data without a test split of its own: the fraction (or count) of each class held out as its test split; 0 = no test split',
      numberOption('--hold-out', (x) => x >= 0 && (x < 1 || Number.isInteger(x)), 'a fraction in [0, 1) or a count'), 0.2)
    .option('--size <pixels>', 'image folders: resize to this size (default 32)', intOption('--size', 8, 4096))
    .option('--channels <n>', 'image folders: 1 or 3 channels (default 3)', intOption('--channels', 1, 3))
    .option('--eval-every <n>', 'kNN monitor every N epochs', intOption('--eval-every', 1, 1e6), 5)
    .option('--linear', 'also fit converged linear probes on the encoder, pixels and random init at the end')
    .option('--seed <s>', 'seed', intOption('--seed', 0, 2 ** 32 - 1), 0)
    .option('--resume <dir>', 'continue from a checkpoint directory (e.g. OUT/checkpoint); the data, splits, limit and recipe must be the same')
    .option('--force-resume', 'resume even when options differ from the checkpoint\'s')
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
      if (o.validationRows !== 'stratified' && o.validationRows !== 'last') throw new CliError(`--validation-rows: expected stratified or last but got "${o.validationRows}"`);
      if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) throw new CliError(`--channels: expected 1 or 3 but got ${o.channels}`);
      if (!(DISTRIBUTED_OPTIONS as string[]).includes(o.distributed))
        throw new CliError(`--distributed: expected ${DISTRIBUTED_OPTIONS.join(', ')} but got "${o.distributed}"`);
      // Before any data is loaded: ranks learn who they are, and only rank 0 speaks and writes.
      // The back end follows the device: 'auto' takes NCCL for --device cuda (GPU ranks).
      const comm = openDistributed(o.distributed as DistributedOption, '--distributed', { device: resolveDevice('--device', o.device as DeviceName) });
      const lead = !comm || comm.rank === 0;
      if (comm && lead && !o.quiet)
        process.stderr.write(`clsa: data-parallel over ${comm.size} ranks (${comm.version}); rank 0 reports\n`);
      const load = { size: o.size, channels: o.channels as 1 | 3 | undefined, holdOut: o.holdOut > 0 ? o.holdOut : false as const };
      // The test split, scored once at the end: disjoint from all training may see, checked now
      // rather than after the training. None when the source has none (or --hold-out 0).
      let test: Dataset | undefined;
      try {
        test = await loadDataset(o.data, { ...load, splitSeed: o.splitSeed, split: 'test' });
      } catch (err) {
        if (!(err instanceof NoTestSplitError)) throw err;
      }
      if (test) assertDisjoint(await loadDataset(o.data, { ...load, splitSeed: o.splitSeed, split: 'train' }), 'the training split', test, 'the test split');
      const out = path.resolve(o.out);
      if (lead) fs.mkdirSync(out, { recursive: true });
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
      const bar = liveBar(o.quiet || !lead);
      const onProgress = (p: ProgressInfo) => {
        const done = (p.epoch * p.steps + p.step + 1) / (p.epochs * p.steps);
        const elapsed = (Date.now() - t0) / 1000;
        bar.update(done, `epoch ${p.epoch + 1}/${p.epochs} step ${p.step + 1}/${p.steps} loss ${p.loss.toFixed(3)} ` +
          `(nce ${p.nceLoss.toFixed(3)} ddm ${p.ddmLoss.toFixed(3)}) acc ${(p.accuracy * 100).toFixed(1)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s, ${eta(elapsed / done - elapsed)} left`);
      };
      const onEpochEnd = (e: EpochInfo) => {
        if (!lead) return;
        appendMetrics(out, { epoch: e.epoch + 1, loss: e.loss, nceLoss: e.nceLoss, ddmLoss: e.ddmLoss, accuracy: e.accuracy,
          knnAccuracy: e.knnAccuracy ?? null, knnSplit: e.knnSplit ?? null, knnSplitSize: e.knnSplitSize ?? null, lr: e.lr, seconds: e.seconds, imagesPerSecond: e.imagesPerSecond });
        bar.log(`epoch ${e.epoch + 1}/${e.epochs}: loss ${e.loss.toFixed(4)} (nce ${e.nceLoss.toFixed(4)}, ddm ${e.ddmLoss.toFixed(4)}), ` +
          `head accuracy ${(e.accuracy * 100).toFixed(1)}%${e.knnAccuracy !== undefined ? `, ${e.knnSplit} kNN ${pct(e.knnAccuracy)} (${e.knnSplitSize} images)` : ''}, ` +
          `${e.seconds.toFixed(1)} s, ${e.imagesPerSecond.toFixed(0)} img/s`);
      };
      const validation = o.validation > 0 ? o.validation : false;
      const options: TrainOptions = recipeOptions({
        preset: o.preset as RecipeName, data: o.data, epochs: o.epochs, batchSize: o.batchSize, arch: o.arch as TrainOptions['arch'],
        width: o.width, crops: o.crops as TrainOptions['crops'], ddmWeight: o.ddmWeight, temperature: o.temperature,
        ddmTemperature: o.ddmTemperature, lr: o.lr, warmupEpochs: o.warmupEpochs, queueSize: o.queueSize, weakScale: o.weakScale, symmetric: o.symmetric,
        lossReduction: o.lossReduction as TrainOptions['lossReduction'],
        device: o.device as TrainOptions['device'], precision: o.precision as TrainOptions['precision'], limit: o.limit, validation, seed: o.seed, resume: o.resume, forceResume: o.forceResume,
        distributed: o.distributed as DistributedOption,
        validationRows: o.validationRows as TrainOptions['validationRows'], splitSeed: o.splitSeed, load,
        signal: controller.signal, onProgress, onEpochEnd, evaluate: { every: o.evalEvery },
        checkpoint: { dir: path.join(out, 'checkpoint'), every: 1, onAbort: true },
      });
      let result;
      try {
        result = await trainClsa(options);
      } catch (err) {
        if (err instanceof AbortError) {
          if (lead) process.stderr.write(`clsa: stopped; checkpoint in ${path.join(out, 'checkpoint')} (continue with --resume ${path.join(out, 'checkpoint')})\n`);
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        bar.stop();
        process.off('SIGINT', onSigint);
      }
      const trainSeconds = (Date.now() - t0) / 1000;
      // The other ranks hold the same model; rank 0 saves and scores it.
      if (!lead) {
        result.model.dispose();
        return;
      }
      await result.encoder.save(path.join(out, 'model'));

      // The test split, scored once, beside the baselines on the same bank, k and t; the monitored
      // validation split gets its pixel baseline too, for the chart. Without a test split the
      // validation split is what is scored, and every output says so.
      const bank = result.data.train, val = result.data.validation;
      const scored = test?.labels ? { split: 'test', data: test } : val?.labels ? { split: 'validation', data: val } : undefined;
      let card: Scorecard | undefined, valCard: Scorecard | undefined;
      let features: { bank: FeatureMatrix; query: FeatureMatrix } | undefined;
      const cfg = result.model.config;
      const noTest = test ? undefined : `no test split (${o.holdOut > 0 ? `${o.data} has none` : '--hold-out 0'}): the validation split is scored instead`;
      if (bank.labels && scored) {
        if (!o.quiet) process.stderr.write(`clsa: scoring the ${scored.split} split beside the baselines\n`);
        if (val?.labels && scored.split === 'test') valCard = await scorecard(undefined, bank, val, { split: 'validation' });
        card = await scorecard(result.encoder, bank, scored.data, { split: scored.split, linear: o.linear,
          randomInit: { arch: cfg.arch, width: cfg.width, depth: cfg.depth, seed: o.seed }, onFeatures: (f) => { features = f; } });
      }
      // Images per class too, so that a reader can see every class in each split (folders of class-sorted images).
      const splitInfo = (ds?: Dataset) => (ds ? { images: ds.images.shape[0], source: ds.source, perClass: perClass(ds) } : null);
      const splits = { train: splitInfo(bank), validation: splitInfo(val), test: splitInfo(test) };
      appendMetrics(out, { final: true, splits, scorecard: card ?? null, validationBaselines: valCard?.pixels ?? null, trainSeconds,
        ...(noTest ? { note: noTest } : {}) });
      const final = result.history[result.history.length - 1];
      const [, h, w, c] = bank.images.shape;
      // The views this run trained on, resolved for its image size.
      const v = result.views;
      const png = await augmentPreviewPng({ data: bank.images.data.subarray(0, 8 * h * w * c), shape: [Math.min(8, bank.images.shape[0]), h, w, c] },
        { views: [v.key, ...v.weak, ...v.strong], seed: o.seed });
      const results: Record<string, number | string> = {};
      if (card) {
        const s = card.split;
        results[`${s} kNN, CLSA encoder (${card.querySize} ${s} images, bank ${card.bankSize}, k=${card.k}, t=${card.t})`] = pct(card.encoder!.knn);
        results[`${s} kNN, pixel baseline (${card.pixels.best.name}, chosen on held-out training images)`] = pct(card.pixels.best.accuracy);
        results[`${s} kNN, raw / centred / standardised pixels`] = `${pct(card.pixels.knn.raw)} / ${pct(card.pixels.knn.centred)} / ${pct(card.pixels.knn.standardised)}`;
        results[`${s} kNN, random-init encoder`] = pct(card.randomInit!.knn);
        results['margin over the pixel baseline'] = `${((card.marginOverPixels ?? 0) * 100).toFixed(2)} points`;
        const probe = (p?: { testAccuracy: number; converged: boolean }) => (p ? `${pct(p.testAccuracy)}${p.converged ? '' : ' (not converged)'}` : '–');
        if (card.encoder?.linear) results[`${s} linear probe: encoder / pixels / random init`] =
          `${probe(card.encoder.linear)} / ${probe(card.pixels.linear)} / ${probe(card.randomInit!.linear)}`;
      }
      if (noTest) results['note'] = noTest;
      results['training images (kNN bank)'] = bank.images.shape[0];
      results['validation images'] = val ? val.images.shape[0] : 'none';
      results['test images'] = test ? test.images.shape[0] : 'none';
      const drawn = scored ?? (test ? { split: 'test', data: test } : val ? { split: 'validation', data: val } : undefined);
      const embeddings = await featureViews(result.encoder, bank, drawn, features, card?.form ?? 'standardised', o.seed);
      await writeReport(out, {
        title: `clsa train — ${o.data}`, config: { preset: o.preset, ...cfg, data: o.data, epochs: options.epochs,
          crops: typeof options.crops === 'string' ? options.crops : JSON.stringify(options.crops), limit: options.limit, batchSize: options.batchSize,
          validation: validation === false ? 'none (test split monitored)' : `${validation} (${o.validationRows}, split seed ${o.splitSeed})`,
          'train split': `${bank.images.shape[0]} images: ${bank.source}`,
          'validation split': val ? `${val.images.shape[0]} images: ${val.source}` : 'none',
          'test split': test ? `${test.images.shape[0]} images: ${test.source}` : 'none' },
        history: result.history.map((e) => ({ ...e, epoch: e.epoch + 1 })),
        knnSplit: final?.knnSplit, knnSplitSize: final?.knnSplitSize,
        baselines: valCard && final?.knnSplit === 'validation' ? [{ name: `pixels (${valCard.pixels.best.name})`, accuracy: valCard.pixels.best.accuracy }]
          : card && final?.knnSplit === card.split ? [{ name: `pixels (${card.pixels.best.name})`, accuracy: card.pixels.best.accuracy }] : [],
        samplesPng: png.png, samplesCaption: `each row: the original, then ${png.columns.slice(1).join(', ')}`,
        timing: { training: trainSeconds, total: (Date.now() - t0) / 1000 }, results, embeddings,
      });
      result.model.dispose();
      const lines = [
        `trained ${options.epochs ?? '?'} epochs in ${trainSeconds.toFixed(1)} s on ${bank.images.shape[0]} images of ${o.data} (preset ${o.preset})`,
        `splits: train ${bank.images.shape[0]} images (the kNN bank), validation ${val ? val.images.shape[0] : 'none'}, test ${test ? test.images.shape[0] : 'none'}`,
        ...(noTest ? [noTest] : []),
        ...(card ? formatScorecard(card) : [bank.labels ? 'no split to score' : 'no labels: no evaluation']),
        `wrote ${path.join(out, 'model')}/, ${path.join(out, METRICS_FILE)}, ${path.join(out, 'report.html')}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/** Images per class of a labelled split, by class name where the source names its classes. */
function perClass(ds: Dataset): Record<string, number> | null {
  if (!ds.labels) return null;
  const out: Record<string, number> = {};
  for (const l of ds.labels) {
    const name = ds.classes?.[l] ?? String(l);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}
