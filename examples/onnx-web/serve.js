#!/usr/bin/env node
// Serves examples/onnx-web for one exported encoder:
//   clsa export --model run1/model --out encoder.onnx
//   node examples/onnx-web/serve.js encoder.onnx [port]     then open the printed address
// The page comes from this folder, onnxruntime-web's WebAssembly build from node_modules, and
// /config.json from the ONNX file's own metadata (normalisation, channels, training size).
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { onnx } = require('onnx-proto');

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.onnx': 'application/octet-stream' };

/** The encoder's input as recorded by clsa export (metadata_props). */
function configOf(modelFile) {
  const m = onnx.ModelProto.decode(fs.readFileSync(modelFile));
  const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
  if (meta['clsa.format'] !== 'clsa-encoder-onnx') throw new Error(`${modelFile}: not an encoder exported by clsa (no clsa.format metadata)`);
  return {
    model: path.basename(modelFile),
    channels: Number(meta['clsa.in_channels']),
    size: JSON.parse(meta['clsa.image_size'])[0],
    mean: JSON.parse(meta['clsa.normalization.mean']),
    std: JSON.parse(meta['clsa.normalization.std']),
  };
}

/** Starts the server (port 0: any free port) on 127.0.0.1; resolves with its address and close(). */
function serve(modelFile, port = 0) {
  const config = JSON.stringify(configOf(modelFile));
  const ortDir = path.dirname(require.resolve('onnxruntime-web'));  // .../onnxruntime-web/dist
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    let file;
    if (url.pathname === '/' || url.pathname === '/index.html') file = path.join(__dirname, 'index.html');
    else if (url.pathname === '/embed.js') file = path.join(__dirname, 'embed.js');
    else if (url.pathname === '/model.onnx') file = modelFile;
    else if (url.pathname === '/config.json') {
      res.writeHead(200, { 'Content-Type': TYPES['.json'] });
      res.end(config);
      return;
    } else if (url.pathname.startsWith('/ort/')) {
      const f = path.join(ortDir, path.normalize(url.pathname.slice(5)));
      if (f.startsWith(ortDir + path.sep)) file = f;
    }
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      resolve({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

module.exports = { serve, configOf };

if (require.main === module) {
  const [model, port] = process.argv.slice(2);
  if (!model) {
    process.stderr.write('usage: node examples/onnx-web/serve.js ENCODER.onnx [port]\n');
    process.exit(2);
  }
  serve(path.resolve(model), Number(port || 8080)).then(({ url }) => process.stdout.write(`open ${url}\n`));
}
