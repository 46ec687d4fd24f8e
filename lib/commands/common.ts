// Helpers shared by the CLI commands: user-facing errors, option parsing, progress output.
import { InvalidArgumentError } from 'commander';

/** An error meant for the user: printed without a stack, with its own exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name}: expected an integer in [${min}, ${max}] but got "${v}"`);
    return n;
  };
}

export function numberOption(name: string, test: (x: number) => boolean, expected: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || !test(n)) throw new InvalidArgumentError(`${name}: expected ${expected} but got "${v}"`);
    return n;
  };
}

/** Progress on stderr: a cli-progress bar on a terminal, plain lines otherwise (logs, CI). */
export interface Progress {
  step(label: string): void;
  stop(): void;
}

export function progress(total: number, quiet = false): Progress {
  if (quiet) return { step: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY) {
    let i = 0;
    return { step: (label) => process.stderr.write(`[${++i}/${total}] ${label}\n`), stop: () => undefined };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as typeof import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {value}/{total} {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label: '' });
  let i = 0;
  return { step: (label) => bar.update(i++, { label }), stop: () => { bar.update(total, { label: 'done' }); bar.stop(); } };
}

/** A live bar for a long loop (training): cli-progress on a terminal, with `log` printing lines
 * above it; on a pipe (logs, CI) the status as a plain line at most every `every` ms. */
export interface LiveBar {
  update(fraction: number, status: string): void;
  log(line: string): void;
  stop(): void;
}

export function liveBar(quiet = false, every = 10000): LiveBar {
  if (quiet) return { update: () => undefined, log: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY) {
    let last = 0;
    return {
      update: (_f, status) => { if (Date.now() - last > every) { last = Date.now(); process.stderr.write(status + '\n'); } },
      log: (line) => process.stderr.write(line + '\n'),
      stop: () => undefined,
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as typeof import('cli-progress');
  const multi = new cliProgress.MultiBar(
    { format: '{bar} {percentage}% | ETA {eta_formatted} | {status}', stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const scale = 10000;
  const bar = multi.create(scale, 0, { status: '' });
  return {
    update: (f, status) => bar.update(Math.round(Math.max(0, Math.min(1, f)) * scale), { status }),
    log: (line) => multi.log(line + '\n'),
    stop: () => multi.stop(),
  };
}
