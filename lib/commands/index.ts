// The CLI's commands, in help order. Add a command: write lib/commands/<name>.ts exporting a
// `register<Name>(program)` and list it here.
import { Command } from 'commander';
import { registerAugment } from './augment';
import { registerBench } from './bench';
import { registerEval } from './eval';
import { registerInfo } from './info';
import { registerTrain } from './train';

export const COMMANDS: ((program: Command) => void)[] = [registerTrain, registerEval, registerAugment, registerInfo, registerBench];
