// SIGKILL during checkpoint and model writes: a child process trains and writes a checkpoint and a
// model directory every epoch (helpers/kill-writer.js) and is killed, 100 times: 64 times at one
// of the writers' instrumented steps (CLSA_CRASH_AT, lib/crashpoint.ts: 8 trials per step, at a
// seeded n-th pass) and 36 times after a seeded random delay. After every kill both directories
// must hold the previous or the next generation, complete and consistent (manifests verified,
// every file of the model naming the same generation). Then every trial resumes the run from the
// checkpoint it left (all of them, not a sample: a resume is one epoch of a 16-image run; trials
// killed before the first checkpoint have none, and the count that resumed is printed and must be
// at least 50) and saves the model again, which must clear the dead writer's leftovers.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AbortError, loadModelFiles, saveModelFiles, trainClsa } from '../lib';
import { CRASH_POINTS, CrashPoint } from '../lib/crashpoint';
import { listLeftovers, readableDir } from '../lib/leftovers';
import { Rng } from '../lib/random';
import { readCheckpoint } from '../lib/training/checkpoint';
import { ensureDist } from './helpers/dist';
import { Kill, Killed, pool, runKilledWriter } from './helpers/kill-trial';
import { seedNote, suiteSeed } from './helpers/seed';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const writer = require('./helpers/kill-writer.js') as {
  runOptions(): Record<string, unknown>;
  generationModel(gen: number): { model: Parameters<typeof saveModelFiles>[1]; extra: Record<string, string> };
};

const SEED = suiteSeed();
const PER_POINT = 8, RANDOM_TRIALS = 36, WIDTH = 3;
/** 16 images in batches of 8. */
const STEPS_PER_EPOCH = 2;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-kill-'));
beforeAll(ensureDist, 120000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Outcome { checkpointFromOld: boolean; modelFromOld: boolean; leftovers: string[]; resumed: boolean }

/** The generation a model directory holds; every one of its files must say the same. */
function modelGeneration(dir: string): number {
  const m = loadModelFiles(dir);  // verifies the manifest too
  const gen = m.config.generation as number;
  expect(m.metadata?.generation).toBe(String(gen));
  const w = m.tensors.w.data as Float32Array;
  expect(w.every((x) => x === gen)).toBe(true);
  expect(fs.readFileSync(path.join(readableDir(dir), 'generation.txt'), 'utf8')).toBe(String(gen));
  return gen;
}

/** The epoch a checkpoint continues at (0: none); readCheckpoint checks its manifest. */
function checkpointEpoch(dir: string): number {
  if (!fs.existsSync(readableDir(dir))) return 0;
  const { meta, state } = readCheckpoint(dir);
  expect(meta.history).toHaveLength(meta.epoch);
  expect(state.step).toBe(meta.epoch * STEPS_PER_EPOCH);
  return meta.epoch;
}

async function resumeOneEpoch(dir: string): Promise<void> {
  const stop = new AbortController();
  await expect(trainClsa({
    ...writer.runOptions(), resume: dir, checkpoint: { dir }, signal: stop.signal, onEpochEnd: () => stop.abort(),
  })).rejects.toThrow(AbortError);
}

async function checkKilled(k: Killed): Promise<Outcome> {
  expect({ signal: k.signal, stderr: k.stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
  const ck = path.join(k.work, 'checkpoint'), md = path.join(k.work, 'model');
  const out: Outcome = {
    checkpointFromOld: !fs.existsSync(ck) && readableDir(ck) !== ck,
    modelFromOld: !fs.existsSync(md) && readableDir(md) !== md,
    leftovers: [...listLeftovers(ck), ...listLeftovers(md)].map((l) => l.kind),
    resumed: false,
  };
  const epoch = checkpointEpoch(ck);
  expect([k.lastCheckpoint, k.lastCheckpoint + 1]).toContain(epoch);
  const gen = fs.existsSync(readableDir(md)) ? modelGeneration(md) : 0;
  expect([k.lastModel, k.lastModel + 1]).toContain(gen);

  if (epoch > 0) {
    await resumeOneEpoch(ck);
    expect(checkpointEpoch(ck)).toBe(epoch + 1);
    expect(listLeftovers(ck)).toEqual([]);
    out.resumed = true;
  }
  const next = writer.generationModel(gen + 1);
  await saveModelFiles(md, next.model, next.extra);
  expect(modelGeneration(md)).toBe(gen + 1);
  expect(listLeftovers(md)).toEqual([]);
  return out;
}

const resumed: boolean[] = [];
afterAll(() => {
  // Trials killed before their first checkpoint have nothing to resume; the rest must all have.
  console.log(`kill-writes: ${resumed.filter(Boolean).length} of ${resumed.length} trials resumed from the checkpoint the kill left (${seedNote(SEED)})`);
  if (resumed.length === CRASH_POINTS.length * PER_POINT + RANDOM_TRIALS) expect(resumed.filter(Boolean).length).toBeGreaterThanOrEqual(50);
});

async function trial(name: string, kill: Kill): Promise<Outcome> {
  const k = await runKilledWriter(path.join(tmp, name), kill);
  try {
    const o = await checkKilled(k);
    resumed.push(o.resumed);
    return o;
  } catch (err) {
    (err as Error).message = `trial ${name} (${JSON.stringify(kill)}, last logged checkpoint ${k.lastCheckpoint}, ` +
      `model ${k.lastModel}; ${seedNote(SEED)}):\n${(err as Error).message}`;
    throw err;
  }
}

// What each crash point must have left, beyond a readable old-or-new state: proof that the kill
// landed in the window the point names.
const LEFT: Partial<Record<CrashPoint, (o: Outcome) => boolean>> = {
  'dir-filled': (o) => o.leftovers.includes('tmp'),
  'dir-old-aside': (o) => o.checkpointFromOld || o.modelFromOld,
  'dir-swapped': (o) => o.leftovers.includes('old') && !o.checkpointFromOld && !o.modelFromOld,
  'dir-trashed': (o) => o.leftovers.includes('trash'),
  'dir-trash-part': (o) => o.leftovers.includes('trash'),
};

describe(`SIGKILL at an instrumented step of a write (${seedNote(SEED)})`, () => {
  CRASH_POINTS.forEach((point, p) => {
    test(`${PER_POINT} kills at ${point} leave the old or the new directory, and the run resumes`, async () => {
      const rng = new Rng(SEED * 31 + p);
      const jobs = Array.from({ length: PER_POINT }, (_, i) => {
        const nth = 1 + (rng.nextU32() % 10);
        return () => trial(`${point}-${i}`, { crashAt: `${point}@${nth}` });
      });
      const outcomes = await pool(jobs, WIDTH);
      const check = LEFT[point];
      if (check) expect(outcomes.map(check)).toEqual(outcomes.map(() => true));
    }, 120000);
  });
});

describe(`SIGKILL after a random delay (${seedNote(SEED)})`, () => {
  test(`${RANDOM_TRIALS} kills at random instants leave the old or the new directory, and the run resumes`, async () => {
    const rng = new Rng(SEED);
    const jobs = Array.from({ length: RANDOM_TRIALS }, (_, i) => {
      const delayMs = Math.floor(rng.uniform() * 600);
      return () => trial(`random-${i}`, { delayMs });
    });
    // Every trial asserts the old-or-new state and the resume itself (checkKilled); the tally only
    // shows where the kills landed.
    const outcomes = await pool(jobs, WIDTH);
    const mid = outcomes.filter((o) => o.leftovers.length > 0 || o.checkpointFromOld || o.modelFromOld).length;
    console.log(`kill-writes: ${mid} of ${RANDOM_TRIALS} random kills landed inside a directory write (${seedNote(SEED)})`);
  }, 120000);
});
