// The writer that test/kill-writes.test.ts kills: one training run that checkpoints every epoch,
// and after every epoch a model directory whose three files all carry the epoch's generation
// number, so that a directory mixed from two saves shows. Each completed write is logged with a
// synchronous append (a pipe's buffered write would be lost with the process), so the test knows
// the newest generation that was complete before the kill.
//
// Run as `node kill-writer.js DIST_DIR WORK_DIR`; required as a module it only gives the run's
// options, so that the test resumes the same run (same data, same recorded options).
'use strict';
const fs = require('fs');
const path = require('path');

const EPOCHS = 1e6;  // never reached: the run ends by SIGKILL

/** 16 labelled 8x8 grey images, the same bytes in every process. */
function tinyData() {
  const n = 16, side = 8;
  const data = new Uint8Array(n * side * side);
  const labels = new Int32Array(n);
  let s = 12345;
  for (let i = 0; i < data.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; data[i] = s >>> 24; }
  for (let i = 0; i < n; i++) labels[i] = i % 2;
  return { images: { data, shape: [n, side, side, 1] }, labels };
}

/** The run's options (no callbacks, signal or checkpoint: the caller adds those). */
function runOptions() {
  return {
    data: { train: tinyData() }, epochs: EPOCHS, batchSize: 8, width: 2, projDim: 8, queueSize: 16, seed: 3, evaluate: false,
    device: 'cpu',
  };
}

/** The synthetic model of generation `gen`: config, metadata, tensor and extra file all say `gen`. */
function generationModel(gen) {
  return {
    model: {
      config: { generation: gen },
      tensors: { w: { dtype: 'F32', shape: [256], data: new Float32Array(256).fill(gen) } },
      metadata: { generation: String(gen) },
    },
    extra: { 'generation.txt': String(gen) },
  };
}

async function main(distDir, work) {
  const clsa = require(distDir);
  const log = (line) => fs.appendFileSync(path.join(work, 'log'), line + '\n');
  log('started');
  await clsa.trainClsa({
    ...runOptions(),
    checkpoint: { dir: path.join(work, 'checkpoint'), every: 1 },
    // trainClsa writes the epoch's checkpoint before it calls onEpochEnd.
    onEpochEnd: async (e) => {
      log(`checkpoint ${e.epoch + 1}`);
      const g = generationModel(e.epoch + 1);
      await clsa.saveModelFiles(path.join(work, 'model'), g.model, g.extra);
      log(`model ${e.epoch + 1}`);
    },
  });
}

module.exports = { runOptions, generationModel, tinyData };

if (require.main === module) {
  main(process.argv[2], process.argv[3]).catch((err) => {
    process.stderr.write(`kill-writer: ${err.stack}\n`);
    process.exit(1);
  });
}
