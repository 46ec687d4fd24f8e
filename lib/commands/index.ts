// The CLI's commands, in help order. Add a command: write lib/commands/<name>.ts exporting a
// `register<Name>(program)` and list it here.
import { Command } from 'commander';
import { registerAugment } from './augment';
import { registerBench } from './bench';
import { registerEmbed } from './embed';
import { registerEval } from './eval';
import { registerExport } from './export';
import { registerInfo } from './info';
import { registerSearch } from './search';
import { registerTrain } from './train';

export const COMMANDS: ((program: Command) => void)[] = [registerTrain, registerEval, registerAugment, registerInfo, registerBench];
// Using a trained encoder elsewhere: ONNX, NumPy features, similarity search.
COMMANDS.push(registerExport, registerEmbed, registerSearch);
