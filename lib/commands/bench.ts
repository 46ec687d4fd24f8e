// `clsa bench [args...]`: runs the micro-benchmarks (bench/run.js of a source checkout).
import { spawnSync } from 'child_process';
import { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { CliError } from './common';

export function registerBench(program: Command): void {
  program.command('bench')
    .description('run the kernel micro-benchmarks (node bench/run.js), passing the remaining arguments on')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .argument('[args...]', 'arguments for bench/run.js')
    .action((args: string[]) => {
      const script = path.resolve(__dirname, '..', '..', 'bench', 'run.js');
      if (!fs.existsSync(script))
        throw new CliError(`the benchmarks are not part of this installation (${script} is missing); run them from a source checkout`);
      const r = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
      if (r.error) throw r.error;
      process.exitCode = r.status ?? 1;
    });
}
