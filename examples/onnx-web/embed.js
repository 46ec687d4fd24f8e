// Runs the encoder with onnxruntime-web. /config.json (written by serve.js from the ONNX file's
// metadata) gives the input size, channels and normalisation; window.clsaEmbed is the same
// computation for scripts (the test drives it from Node through a headless Chromium).
/* global ort */
'use strict';

const out = document.getElementById('out');

async function start() {
  const config = await (await fetch('config.json')).json();
  // One thread needs no cross-origin isolation (SharedArrayBuffer); the WASM files come from /ort/.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/ort/';
  const session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });

  /** Features [n, d] of normalised float NCHW images. */
  async function embed(data, shape) {
    const x = new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), shape);
    const r = await session.run({ [session.inputNames[0]]: x });
    return { data: r.features.data, dims: r.features.dims };
  }
  window.clsaEmbed = embed;

  /** An image element as the encoder's input: resized, grey or RGB, (v / 255 - mean) / std. */
  function toInput(img, canvas) {
    const s = config.size, c = config.channels;
    canvas.width = s;
    canvas.height = s;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, s, s);
    const px = ctx.getImageData(0, 0, s, s).data;
    const x = new Float32Array(c * s * s);
    for (let p = 0; p < s * s; p++) {
      const r = px[4 * p], g = px[4 * p + 1], b = px[4 * p + 2];
      if (c === 1) x[p] = ((0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 - config.mean[0]) / config.std[0];
      else [r, g, b].forEach((v, ch) => { x[ch * s * s + p] = (v / 255 - config.mean[ch]) / config.std[ch]; });
    }
    return x;
  }

  document.getElementById('files').addEventListener('change', async (ev) => {
    const thumbs = document.getElementById('thumbs');
    thumbs.textContent = '';
    const files = [...ev.target.files];
    const inputs = [];
    for (const f of files) {
      const img = await createImageBitmap(f);
      const canvas = document.createElement('canvas');
      thumbs.appendChild(canvas);
      inputs.push(toInput(img, canvas));
    }
    if (inputs.length === 0) return;
    const per = inputs[0].length, batch = new Float32Array(per * inputs.length);
    inputs.forEach((x, i) => batch.set(x, i * per));
    const f = await embed(batch, [inputs.length, config.channels, config.size, config.size]);
    const d = f.dims[1], rows = inputs.map((_, i) => f.data.subarray(i * d, (i + 1) * d));
    const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0)) || 1;
    const cos = (a, b) => a.reduce((s, x, j) => s + x * b[j], 0) / (norm(a) * norm(b));
    out.textContent = `${d} features per image\n\n` +
      files.map((fa, i) => `${fa.name.padEnd(24)} ${rows.map((_, j) => cos(rows[i], rows[j]).toFixed(3)).join('  ')}`).join('\n');
  });

  out.textContent = `ready: ${config.model} (${config.channels} channel(s), ${config.size}x${config.size}, ` +
    `mean ${JSON.stringify(config.mean)}, std ${JSON.stringify(config.std)})`;
  document.body.dataset.ready = 'yes';
}

start().catch((err) => {
  out.textContent = `error: ${err.message}`;
  document.body.dataset.ready = 'error';
  window.clsaError = String(err.stack || err);
});
