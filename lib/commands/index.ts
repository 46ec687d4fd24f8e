// The CLI's commands, in help order. Add a command: write lib/commands/<name>.ts exporting a
// `register<Name>(program)` and list it here (train and augment arrive with the training step).
import { Command } from 'commander';
import { registerBench } from './bench';
import { registerEval } from './eval';
import { registerInfo } from './info';

export const COMMANDS: ((program: Command) => void)[] = [registerInfo, registerEval, registerBench];
