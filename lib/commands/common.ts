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
