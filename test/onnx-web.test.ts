// The ONNX export in a real browser: examples/onnx-web (served by its serve.js) runs the default
// encoder (resnet-mini, width 32, 1 channel, 28x28: what `clsa train` makes) with onnxruntime-web
// in Debian's headless Chromium, driven by playwright-core; its features match onnxruntime-node's
// and Encoder.embed's. Skipped, saying so, where Chromium is not installed (apt-get install chromium).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { toEncoderInput } from '../lib/encoder';
import { Rng } from '../lib/random';
import { maxRowRelDiff, perturbedEncoder, randomImages } from './helpers/encoders';

const CHROMIUM = process.env.CLSA_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const BOUND = 1e-4;
const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
const name = `onnxruntime-web in headless Chromium gives onnxruntime-node's and embed's features (bound ${BOUND}, seed ${seed})`;
const maybe = haveChromium ? test : test.skip;

test('examples/onnx-web/serve.js serves the page, onnxruntime-web and the input the ONNX metadata records', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serve } = require('../examples/onnx-web/serve.js') as { serve: (f: string) => Promise<{ url: string; close: () => Promise<void> }> };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-web-'));
  const { encoder } = perturbedEncoder({ width: 4, inChannels: 3 }, new Rng(seed), [20, 20]);
  const file = path.join(tmp, 'e.onnx');
  await encoder.exportOnnx(file);
  const norm = { mean: encoder.normalization.mean, std: encoder.normalization.std };
  encoder.dispose();
  const server = await serve(file);
  try {
    const get = async (p: string) => { const r = await fetch(server.url + p); return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) }; };
    expect(JSON.parse((await get('config.json')).body.toString())).toEqual({ model: 'e.onnx', channels: 3, size: 20, ...norm });
    expect((await get('')).body.toString()).toContain('<script src="/ort/ort.wasm.min.js"></script>');
    expect((await get('model.onnx')).body.equals(fs.readFileSync(file))).toBe(true);
    const wasm = await get('ort/ort-wasm-simd-threaded.wasm');
    expect({ status: wasm.status, type: wasm.type }).toEqual({ status: 200, type: 'application/wasm' });
    expect((await get('ort/..%2F..%2Fpackage.json')).status).toBe(404);
  } finally {
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

maybe(haveChromium ? name : `${name} (SKIPPED: no Chromium at ${CHROMIUM}; apt-get install chromium, or set CLSA_CHROMIUM)`, async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serve } = require('../examples/onnx-web/serve.js') as { serve: (f: string) => Promise<{ url: string; close: () => Promise<void> }> };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-web-'));
  const rng = new Rng(seed);
  const { encoder } = perturbedEncoder({ width: 32, inChannels: 1 }, rng, [28, 28]);
  const file = path.join(tmp, 'encoder.onnx');
  await encoder.exportOnnx(file);
  const images = randomImages(rng, 5, 28, 28, 1);
  const x = toEncoderInput(images, encoder.normalization);
  const ref = await encoder.embed(images);
  const server = await serve(file);
  const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await context.newPage();
    const log: string[] = [];
    page.on('console', (m) => log.push(m.text()));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready]', { timeout: 60000 });
    // (The page's globals, typed here: the test compiles without the DOM library.)
    const ready = await page.evaluate('[document.body.dataset.ready, document.getElementById("out").textContent]');
    expect({ ready, log }).toMatchObject({ ready: ['yes', expect.stringMatching(/^ready: encoder\.onnx \(1 channel\(s\), 28x28, mean \[0\.3\], std \[0\.25\]\)$/)] });
    const web = await page.evaluate(async ([data, shape]) => {
      const r = await (globalThis as unknown as { clsaEmbed: (d: number[], s: number[]) => Promise<{ data: Float32Array; dims: number[] }> })
        .clsaEmbed(data, shape);
      return { data: Array.from(r.data), dims: r.dims };
    }, [Array.from(x.data), x.shape] as const);
    expect(web.dims).toEqual([5, encoder.featureDim]);
    // onnxruntime-node on the same input (a child process: see test/helpers/ort-node.js).
    const input = path.join(tmp, 'x.f32');
    fs.writeFileSync(input, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
    const nodeOut = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'helpers', 'ort-node.js'), file, input, x.shape.join(',')],
      { encoding: 'utf8', maxBuffer: 1 << 26 })).features;
    const b = Buffer.from(nodeOut.data, 'base64');
    const nodeFeats = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const vsNode = maxRowRelDiff(web.data, nodeFeats, encoder.featureDim);
    const vsEmbed = maxRowRelDiff(web.data, ref.data, encoder.featureDim);
    process.stdout.write(`onnxruntime-web vs onnxruntime-node ${vsNode}, vs embed ${vsEmbed}\n`);
    const ctx = `seed ${seed}`;
    expect({ ctx, vsNode, ok: vsNode <= BOUND }).toMatchObject({ ctx, ok: true });
    expect({ ctx, vsEmbed, ok: vsEmbed <= BOUND }).toMatchObject({ ctx, ok: true });
  } finally {
    await context.close();
    await server.close();
    encoder.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 120000);
