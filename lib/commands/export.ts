// `clsa export`: a trained encoder (--model DIR) as an ONNX file that onnxruntime runs anywhere
// (Node, the browser, Python); docs/onnx.md describes the file.
import { Command } from 'commander';
import { loadEncoder } from '../encoder';

interface ExportOptions { model: string; out: string; head?: boolean; foldBatchNorm?: boolean; json?: boolean }

export function registerExport(program: Command): void {
  program.command('export')
    .description('write a trained encoder as ONNX (backbone in evaluation mode, dynamic batch, input normalised as in training)')
    .requiredOption('--model <dir>', 'model directory (OUT/model of clsa train)')
    .requiredOption('--out <file>', 'the .onnx file to write')
    .option('--head', "also output the projection head's embedding ('projection') beside the features")
    .option('--fold-batch-norm', 'fold batch norm into the convolutions instead of BatchNormalization nodes')
    .option('--json', 'print what was written as JSON')
    .action(async (opts: ExportOptions) => {
      const encoder = loadEncoder(opts.model, { device: 'cpu' });
      try {
        const info = await encoder.exportOnnx(opts.out, { head: opts.head ?? false, foldBatchNorm: opts.foldBatchNorm ?? false });
        const n = encoder.normalization;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...info, normalization: n, imageSize: encoder.imageSize }, null, 2) + '\n');
          return;
        }
        const shape = (s: (string | number)[]) => `[${s.join(', ')}]`;
        process.stdout.write([
          `wrote ${opts.out} (${(info.bytes / 1e6).toFixed(2)} MB, ONNX IR ${info.irVersion}, opset ${info.opset})`,
          `input: ${info.input.name} ${shape(info.input.shape)} float32, x = (pixel / 255 - mean) / std, mean ${JSON.stringify(n.mean)}, std ${JSON.stringify(n.std)}`,
          ...info.outputs.map((o) => `output: ${o.name} ${shape(o.shape)}`),
        ].join('\n') + '\n');
      } finally {
        encoder.dispose();
      }
    });
}
