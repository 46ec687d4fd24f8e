// Runs an ONNX file with onnxruntime-node in a process of its own: inside jest's sandbox the
// runtime's output arrays come from another realm and its own Tensor check rejects them.
// Usage: node ort-node.js MODEL INPUT.f32 n,c,h,w  -> JSON { output: { dims, data (base64 float32 LE) } }
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, shape] = process.argv.slice(2);
  const dims = shape.split(',').map(Number);
  const b = fs.readFileSync(input);
  const x = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  // One thread: the test machine is shared, and the comparison does not depend on it.
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
  const result = {};
  for (const [name, t] of Object.entries(out))
    result[name] = { dims: t.dims, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString('base64') };
  await session.release();
  process.stdout.write(JSON.stringify(result));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
