// One trial of test/kill-writes.test.ts: start the writer (helpers/kill-writer.js), let it be
// killed by SIGKILL (at a crash point it passes, or by us after a delay), and read back what it
// left: the log of completed writes and the two directories.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DIST } from './dist';

export interface Kill {
  /** CLSA_CRASH_AT for the child (it kills itself there), or a delay after which we kill it. */
  crashAt?: string;
  delayMs?: number;
}

export interface Killed {
  work: string;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  /** The newest generation whose write completed before the kill (0: none). */
  lastCheckpoint: number;
  lastModel: number;
}

const WRITER = path.join(__dirname, 'kill-writer.js');
/** A crash point that is never passed would leave the writer running: it is killed then, and the trial fails. */
const SAFETY_MS = 30000;

function lastLogged(work: string, what: 'checkpoint' | 'model'): number {
  const file = path.join(work, 'log');
  if (!fs.existsSync(file)) return 0;
  let last = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = new RegExp(`^${what} (\\d+)$`).exec(line);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

function waitForStart(work: string, child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (child.exitCode !== null || child.signalCode !== null || fs.existsSync(path.join(work, 'log'))) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
}

export async function runKilledWriter(work: string, kill: Kill): Promise<Killed> {
  fs.mkdirSync(work, { recursive: true });
  const env = { ...process.env, CLSA_CRASH_AT: kill.crashAt ?? '' };
  const child = spawn(process.execPath, [WRITER, DIST, work], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })));
  const safety = setTimeout(() => child.kill('SIGTERM'), SAFETY_MS);
  if (kill.delayMs !== undefined) {
    // Timed from the writer's first log line, so that node's start-up does not eat the delay.
    await waitForStart(work, child);
    await new Promise((r) => setTimeout(r, kill.delayMs));
    child.kill('SIGKILL');
  }
  const { code, signal } = await exited;
  clearTimeout(safety);
  return { work, signal, code, stderr, lastCheckpoint: lastLogged(work, 'checkpoint'), lastModel: lastLogged(work, 'model') };
}

/** Runs `jobs` with at most `width` at a time (the trials are mostly waiting on child processes). */
export async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return out;
}
