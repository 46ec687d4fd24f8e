#!/usr/bin/env node
// The `clsa` command line. Each command lives in lib/commands/<name>.ts and registers itself on
// the program; add a command by writing such a file and listing it in lib/commands/index.ts.
import { Command } from 'commander';
import { COMMANDS } from './commands';
import { CliError } from './commands/common';

export function buildProgram(): Command {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pkg = require('../package.json') as { version: string };
  const program = new Command('clsa')
    .description('CLSA (Contrastive Learning with Stronger Augmentations) on fused native kernels')
    .version(pkg.version)
    .showHelpAfterError();
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof CliError) {
      process.stderr.write(`clsa: ${e.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`clsa: ${e.message}${e.code ? ` (${e.code})` : ''}\n`);
    if (process.env.CLSA_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; });
}
