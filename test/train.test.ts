// trainClsa: progress callbacks, bit-exact resume, abort, encoder save/load, the CLI end to end.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AbortError, backend, loadDataset, loadEncoder, scorecard, sliceDataset, trainClsa, TrainOptions } from '../lib';
import { encodeIdx } from '../lib/idx';

// A small labelled data set with class structure: class c is a bright bar at row 2c.
function makeData(n: number, size = 16, seed = 1) {
  const data = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const bar = Math.abs(y - (3 + 3 * c)) <= 1 ? 200 : 30;
        data[(i * size + y) * size + x] = Math.min(255, Math.max(0, bar + Math.round((rnd() - 0.5) * 60)));
      }
  }
  return { images: { data, shape: [n, size, size, 1] as [number, number, number, number] }, labels };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-train-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// { train }: all 64 images train (one pool would give up a fifth as its test split); the monitor
// watches the evalData arrays whole.
const base = (): TrainOptions => ({
  data: { train: makeData(64) }, evalData: makeData(32, 16, 7), epochs: 2, batchSize: 16, width: 8, queueSize: 48, seed: 5,
  evaluate: { every: 1, k: 10 },
});

test('progress and epoch callbacks report every step with finite numbers', async () => {
  const steps: number[] = [];
  const epochs: number[] = [];
  const r = await trainClsa({
    ...base(),
    onProgress: (p) => {
      steps.push(p.globalStep);
      expect(Number.isFinite(p.loss) && Number.isFinite(p.nceLoss) && Number.isFinite(p.ddmLoss)).toBe(true);
      expect(p.loss).toBeCloseTo(p.nceLoss + p.ddmLoss, 3);
      expect(p.steps).toBe(4);
      expect(p.imagesPerSecond).toBeGreaterThan(0);
      expect(p.lr).toBeGreaterThan(0);
    },
    // 4 balanced classes, each a bar at its own row: chance is 0.25, and any working monitor is far above it.
    onEpochEnd: (e) => { epochs.push(e.epoch); expect(e.knnAccuracy).toBeGreaterThan(0.5); expect(e.knnSplit).toBe('evalData'); expect(e.knnSplitSize).toBe(32); },
  });
  expect(steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(epochs).toEqual([0, 1]);
  expect(r.history).toHaveLength(2);
  expect(r.history[1].lr).toBeLessThan(r.history[0].lr);  // cosine schedule
  const f = await r.encoder.embed(makeData(8).images);
  expect(f.shape).toEqual([8, r.encoder.featureDim]);
  expect(Array.from(f.data).every(Number.isFinite)).toBe(true);
  r.encoder.dispose();
});

test('resuming from a checkpoint gives bit-identical weights (2 epochs vs 1 + resume + 1)', async () => {
  const a = await trainClsa({ ...base(), checkpoint: { dir: path.join(tmp, 'a') } });
  const wa = a.model.state();
  a.encoder.dispose();

  const controller = new AbortController();
  const ckpt = path.join(tmp, 'b');
  await expect(trainClsa({
    ...base(), signal: controller.signal, checkpoint: { dir: ckpt },
    onEpochEnd: (e) => { if (e.epoch === 0) controller.abort(); },
  })).rejects.toThrow(AbortError);
  const meta = JSON.parse(fs.readFileSync(path.join(ckpt, 'checkpoint.json'), 'utf8'));
  expect(meta.epoch).toBe(1);

  const c = await trainClsa({ ...base(), resume: ckpt });
  const wc = c.model.state();
  for (const name of Object.keys(wa.buffers)) {
    const x = wa.buffers[name], y = wc.buffers[name];
    expect(y.length).toBe(x.length);
    expect(Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength))).toBe(true);
  }
  expect(wc.queuePointer).toBe(wa.queuePointer);
  expect(wc.step).toBe(wa.step);
  expect(c.history.map((h) => h.loss)).toEqual(a.history.map((h) => h.loss));
  c.encoder.dispose();
});

test('abort stops within one step, rejects with AbortError, and leaves the last checkpoint resumable', async () => {
  const dir = path.join(tmp, 'abort');
  const controller = new AbortController();
  let stepsAfterAbort = -1;
  let before = '';
  const p = trainClsa({
    ...base(), epochs: 3, signal: controller.signal, checkpoint: { dir },
    onProgress: (s) => {
      if (stepsAfterAbort >= 0) stepsAfterAbort++;
      if (s.globalStep === 5) { before = fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8'); controller.abort(); stepsAfterAbort = 0; }
    },
  });
  await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  expect(stepsAfterAbort).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8')).toBe(before);
  expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
  const r = await trainClsa({ ...base(), epochs: 3, resume: dir });
  expect(r.history).toHaveLength(3);
  r.encoder.dispose();
});

test('an already aborted signal rejects before any work', async () => {
  const c = new AbortController();
  c.abort();
  await expect(trainClsa({ ...base(), signal: c.signal })).rejects.toThrow(/aborted/);
});

test('bad options are clear errors', async () => {
  await expect(trainClsa({ ...base(), batchSize: 12 })).rejects.toThrow(/options\.batchSize: expected a multiple of options\.splitBN = 8 .* but got 12/);
  await expect(trainClsa({ ...base(), epochs: 0 })).rejects.toThrow(/options\.epochs: expected an integer in \[1, 1000000\] but got 0/);
  await expect(trainClsa({ ...base(), arch: 'vgg' as never })).rejects.toThrow(/options\.arch: expected one of 'resnet-mini', 'resnet18' but got the string "vgg"/);
  await expect(trainClsa({ ...base(), batchSize: 128 })).rejects.toThrow(/options\.batchSize: expected at most the 64 training images but got 128/);
  await expect(trainClsa({ ...base(), device: 'cpu', precision: 'tf32' })).rejects.toThrow(/options\.precision: the CPU computes in fp32, so expected 'fp32' on the CPU but got 'tf32'/);
  await expect(trainClsa({ ...base(), weakScale: [0.6, 0.3] })).rejects.toThrow(/options\.weakScale: expected \[lo, hi\] with 0 < lo <= hi <= 1 but got an array of length 2 \[0\.6, 0\.3\]/);
  await expect(trainClsa({ ...base(), warmupEpochs: 5 })).rejects.toThrow(/options\.warmupEpochs: expected a number in \[0, options\.epochs = 2\] but got 5/);
  await expect(trainClsa({ ...base(), device: 'gpu' as never })).rejects.toThrow(/options\.device: expected one of 'auto', 'cpu', 'cuda' but got the string "gpu"/);
  if (!backend().cudaUsable)
    await expect(trainClsa({ ...base(), device: 'cuda' })).rejects.toThrow(/options\.device: 'cuda' requested but /);
});

test('a validation split carved from the training data is what the monitor watches', async () => {
  const data = { train: makeData(80) };
  const seen: (string | undefined)[] = [];
  const r = await trainClsa({ ...base(), data, evalData: undefined, validation: 16, batchSize: 16,
    onEpochEnd: (e) => { seen.push(e.knnSplit); } });
  expect(seen).toEqual(['validation', 'validation']);
  // 64 training rows remain, 16 of each class; the validation split holds 4 of each.
  expect(r.data.train.images.shape[0]).toBe(64);
  const perClass = (l: Int32Array) => [0, 1, 2, 3].map((c) => l.filter((x) => x === c).length);
  expect(perClass(r.data.validation!.labels!)).toEqual([4, 4, 4, 4]);
  r.encoder.dispose();
  await expect(trainClsa({ ...base(), validation: 16 })).rejects.toThrow(/options\.evalData: the monitor watches the validation split when options\.validation is given/);
  await expect(trainClsa({ ...base(), data, evalData: undefined, validation: 80 })).rejects.toThrow(/validation: expected to leave at least one training image of the 80/);
});

test('encoder.save + loadEncoder reproduce the embeddings exactly', async () => {
  const r = await trainClsa({ ...base(), epochs: 1 });
  const dir = path.join(tmp, 'model');
  await r.encoder.save(dir);
  const imgs = makeData(12, 16, 3).images;
  const a = await r.encoder.embed(imgs);
  r.encoder.dispose();
  const e = loadEncoder(dir);
  const b = await e.embed(imgs);
  expect(Array.from(b.data)).toEqual(Array.from(a.data));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(cfg.format).toBe('clsa-encoder');
  expect(() => loadEncoder(path.join(tmp, 'nothing-here'))).toThrow(/no such model directory/);
  await expect(e.embed({ data: new Uint8Array(16 * 16 * 3), shape: [1, 16, 16, 3] })).rejects.toThrow(/expected 1 channels .* but got 3/);
  e.dispose();
});

test('clsa train + clsa eval --model end to end on a few hundred images', () => {
  const dataDir = path.join(tmp, 'idx');
  fs.mkdirSync(dataDir);
  const tr = makeData(256, 16, 11), te = makeData(64, 16, 12);
  const write = (name: string, buf: Uint8Array) => fs.writeFileSync(path.join(dataDir, name), buf);
  write('train-images-idx3-ubyte', encodeIdx([256, 16, 16], tr.images.data));
  write('train-labels-idx1-ubyte', encodeIdx([256], Uint8Array.from(tr.labels)));
  write('t10k-images-idx3-ubyte', encodeIdx([64, 16, 16], te.images.data));
  write('t10k-labels-idx1-ubyte', encodeIdx([64], Uint8Array.from(te.labels)));
  const out = path.join(tmp, 'run');
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const stdout = execFileSync(process.execPath, [cli, 'train', '--data', dataDir, '--out', out, '--epochs', '2', '--batch-size', '32',
    '--eval-every', '1', '--queue-size', '64', '--quiet'], { encoding: 'utf8' });
  // The test split is scored once, beside the baselines on the same bank (256 - 43 validation rows).
  expect(stdout).toMatch(/test split: 64 images, kNN bank 213 training images, k=200, t=0\.1/);
  expect(stdout).toMatch(/CLSA encoder +kNN \d+\.\d\d%/);
  expect(stdout).toMatch(/splits: train 213 images \(the kNN bank\), validation 43, test 64/);
  expect(stdout).toMatch(/best pixel baseline +kNN \d+\.\d\d% \((raw|centred|standardised), best on 43 held-out bank images; raw \d+\.\d\d%, centred \d+\.\d\d%, standardised \d+\.\d\d%\)/);
  expect(stdout).toMatch(/random-init encoder +kNN \d+\.\d\d%/);
  expect(stdout).toMatch(/margin over the best pixel baseline: [+-]\d+\.\d\d points/);
  const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const metrics = lines.filter((m) => !m.final);
  expect(metrics).toHaveLength(2);
  for (const m of metrics) for (const k of ['epoch', 'loss', 'nceLoss', 'ddmLoss', 'knnAccuracy']) expect(typeof m[k]).toBe('number');
  for (const m of metrics) expect(m.knnSplit).toBe('validation');   // the monitor never sees the test split
  const final = lines.filter((m) => m.final);
  expect(final).toHaveLength(1);
  expect(final[0].scorecard.bankSize).toBe(213);
  expect(final[0].scorecard.pixels.best.accuracy).toBe(final[0].scorecard.pixels.knn[final[0].scorecard.pixels.best.name]);
  expect(final[0].splits).toMatchObject({ train: { images: 213 }, validation: { images: 43 }, test: { images: 64 } });
  for (const m of metrics) expect(m.knnSplitSize).toBe(43);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  expect(html).toMatch(/<svg/);
  expect(html).toMatch(/data:image\/png;base64,/);
  expect(html).toContain(String(Number(metrics[1].loss.toPrecision(5))));  // the report's number format
  expect(html).not.toMatch(/(src|href)="https?:/);
  expect(html).toMatch(/stroke-dasharray="6 4"/);          // the pixel baseline drawn on the kNN chart
  expect(html).toMatch(/kNN \(validation, 43 images\)/);
  expect(html).toMatch(/best kNN accuracy \(validation, 43 images\)/);
  expect(html).toMatch(/test kNN, pixel baseline/);
  expect(html).toMatch(/<th>test split<\/th><td>64 images: /);
  // The quick preset's views follow the 16-pixel images (they were 28 pixels whatever the data).
  expect(html).toMatch(/each row: the original, then weak 16, weak 16, strong 16/);
  const evalOut = execFileSync(process.execPath, [cli, 'eval', '--model', path.join(out, 'model'), '--data', dataDir, '--json', '-k', '20'], { encoding: 'utf8' });
  const ev = JSON.parse(evalOut);
  expect(ev.encoder.knn).toBeGreaterThan(0.25);  // 4 balanced classes: chance is 0.25
  expect(ev.randomInit.knn).toBeGreaterThan(0.25);
  expect(typeof ev.pixels.best.accuracy).toBe('number');
}, 300000);

test('a trained encoder beats its random-init twin on the test split (Fashion-MNIST subset, 2 epochs of 1024 images)', async () => {
  const train = sliceDataset(await loadDataset('fashion-mnist', { split: 'train', fashionMnistDirs: [] }), 1024);
  const test = sliceDataset(await loadDataset('fashion-mnist', { split: 'test', fashionMnistDirs: [] }), 500);
  const r = await trainClsa({ preset: 'quick', data: { train }, limit: undefined, evaluate: false, epochs: 2, width: 8, queueSize: 256, seed: 1 });
  // Raw features: standardising lifts an untrained encoder's kNN more than a barely trained one's.
  const card = await scorecard(r.encoder, train, test, { k: 20, form: 'raw', randomInit: { arch: 'resnet-mini', width: 8, seed: 1 } });
  r.encoder.dispose();
  // Measured: 58.0% against 55.6% (12 of the 500 test images); CPU training is deterministic.
  expect(card.encoder!.knn).toBeGreaterThan(card.randomInit!.knn + 0.01);
}, 60000);

test('resume refuses a run whose data, split, limit or recipe differ from the checkpoint\'s, naming the option', async () => {
  const dir = path.join(tmp, 'mismatch');
  const first = await trainClsa({ ...base(), epochs: 1, checkpoint: { dir } });
  first.encoder.dispose();
  const resume = (o: Partial<TrainOptions>) => trainClsa({ ...base(), epochs: 1, resume: dir, ...o });
  await expect(resume({ limit: 48 })).rejects.toThrow(/options\.limit: the checkpoint in .*mismatch was written by a run with options\.limit = undefined but this run has 48; .*--force-resume/);
  await expect(resume({ validation: 16, evalData: undefined })).rejects.toThrow(/options\.validation: .* options\.validation = undefined but this run has 16/);
  await expect(resume({ crops: 'multi' })).rejects.toThrow(/options\.crops: .* = undefined but this run has "multi"/);
  await expect(resume({ data: { train: makeData(64, 16, 2) } })).rejects.toThrow(/options\.data: the checkpoint .* whose train split held 64 images \(sha256 [0-9a-f]{12}\) but this run's holds 64 images \(sha256 [0-9a-f]{12}\)/);
  await expect(resume({ data: 'fashion-mnist' })).rejects.toThrow(/options\.data: .* options\.data = "memory" but this run has "fashion-mnist"/);
  // Where the run computes and how often it reports may change; an explicit override resumes anyway.
  const ok = await resume({ device: 'cpu', evaluate: false });
  ok.encoder.dispose();
  const forced = await resume({ limit: 48, forceResume: true });
  expect(forced.history).toHaveLength(1);
  forced.encoder.dispose();
});
