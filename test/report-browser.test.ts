// The report as a person sees it: pages written by `clsa train` (1 channel, IDX files, a tiny run)
// and by the API (3 channels, 40x30 images, a random-init encoder) opened in Debian's headless
// Chromium, driven by playwright-core. The map's points and classes, the grid's rows and cells and
// its red borders are counted in the rendered page; the red borders against the wrong-class
// neighbours of a brute-force cosine search done here; a screenshot is saved and looked at.
// Without Chromium the browser test is skipped, saying so (apt-get install chromium, or set
// CLSA_CHROMIUM); the checks on the page's text run either way, among them `clsa train` on a
// folder of images without labels.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { loadDataset } from '../lib/data';
import { loadEncoder } from '../lib/encoder';
import { encodeIdx } from '../lib/idx';
import { Rng } from '../lib/random';
import { writeReport } from '../lib/report';
import { reportViews } from '../lib/report-map';
import { bandImages, bruteWrongCount, inFormF64, randomInitEncoder } from './helpers/report';

const CHROMIUM = process.env.CLSA_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const seed = (Date.now() ^ (process.pid << 8)) >>> 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-report-browser-'));
// CLSA_KEEP_REPORTS=1 keeps the pages and screenshots for a look (the path is printed).
afterAll(() => { if (!process.env.CLSA_KEEP_REPORTS) fs.rmSync(tmp, { recursive: true, force: true }); });

interface Expected {
  file: string;
  points: number;
  classes: number;
  queries: number;
  k: number;
  /** Wrong-class neighbours of the page's query rows by the brute force. */
  wrong: (queryRows: number[]) => number;
}
const pages: Record<'cli' | 'api', Expected> = {} as never;

/** A tiny IDX data set, `clsa train` on it for one epoch with the test split as the scored split. */
async function cliReport(): Promise<Expected> {
  const rng = new Rng(seed);
  const dir = path.join(tmp, 'idx'), out = path.join(tmp, 'run');
  fs.mkdirSync(dir);
  const tr = bandImages(rng, 160, 16, 16, 1, 4), te = bandImages(rng, 44, 16, 16, 1, 4);
  const write = (name: string, buf: Uint8Array) => fs.writeFileSync(path.join(dir, name), buf);
  write('train-images-idx3-ubyte', encodeIdx([160, 16, 16], tr.images.data));
  write('train-labels-idx1-ubyte', encodeIdx([160], Uint8Array.from(tr.labels!)));
  write('t10k-images-idx3-ubyte', encodeIdx([44, 16, 16], te.images.data));
  write('t10k-labels-idx1-ubyte', encodeIdx([44], Uint8Array.from(te.labels!)));
  execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), 'train', '--data', dir, '--out', out, '--epochs', '1',
    '--batch-size', '32', '--width', '4', '--queue-size', '64', '--validation', '0', '--seed', String(seed % 1000), '--quiet'], { encoding: 'utf8' });
  // The brute force's side: the saved encoder on the splits as loaded from the files.
  const encoder = loadEncoder(path.join(out, 'model'));
  const bank = await loadDataset(dir, { split: 'train' }), test = await loadDataset(dir, { split: 'test' });
  const d = encoder.featureDim;
  const f = inFormF64((await encoder.embed(bank.images)).data, (await encoder.embed(test.images)).data, d, 'standardised');
  encoder.dispose();
  return { file: path.join(out, 'report.html'), points: 44, classes: 4, queries: 8, k: 8,
    wrong: (rows) => bruteWrongCount(f.bank, f.query, d, rows, 8, bank.labels!, test.labels!) };
}

/** A 3-channel, non-square page from the API, fewer points drawn than the split has. */
async function apiReport(): Promise<Expected> {
  const rng = new Rng(seed ^ 0xabc);
  const bank = bandImages(rng, 120, 40, 30, 3, 6), query = bandImages(rng, 60, 40, 30, 3, 6);
  const encoder = randomInitEncoder(bank, 4, seed % 1000);
  const raw = { bank: await encoder.embed(bank.images), query: await encoder.embed(query.images) };
  encoder.dispose();
  const views = await reportViews(bank, query, raw, { split: 'test', points: 48, queries: 5, k: 6, seed });
  const dir = path.join(tmp, 'api');
  await writeReport(dir, { config: { note: 'random init' }, history: [{ epoch: 1, loss: 3 }], embeddings: views });
  const d = raw.bank.shape[1];
  const f = inFormF64(raw.bank.data, raw.query.data, d, 'standardised');
  return { file: path.join(dir, 'report.html'), points: 48, classes: 6, queries: 5, k: 6,
    wrong: (rows) => bruteWrongCount(f.bank, f.query, d, rows, 6, bank.labels!, query.labels!) };
}

beforeAll(async () => {
  pages.cli = await cliReport();
  pages.api = await apiReport();
  if (process.env.CLSA_KEEP_REPORTS) process.stdout.write(`report pages and screenshots in ${tmp}\n`);
}, 240000);

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

describe(`the report's map and neighbour grid (seed ${seed})`, () => {
  test('clsa train writes the map and the grid of its test split into report.html', () => {
    const html = fs.readFileSync(pages.cli.file, 'utf8');
    expect(html).toMatch(/PCA of the encoder&#39;s features of the test split \(44 images, all in the fit; all drawn\)/);
    expect(html).toMatch(/8 images of the test split \(44 images; one class after another, seed \d+\), each followed by its 8 nearest among the 160 images of the kNN bank/);
    expect(count(html, /<circle class="pt"/g)).toBe(44);
    expect(count(html, /<tr class="nn-row"/g)).toBe(8);
    for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(m[1].startsWith('data:')).toBe(true);
  });

  test('clsa train on images without labels draws the map and the grid plain, and says why', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sharp = require('sharp') as typeof import('sharp');
    const dir = path.join(tmp, 'flat'), out = path.join(tmp, 'flat-run');
    fs.mkdirSync(dir);
    const rng = new Rng(seed ^ 0xf1a7);
    const flat = bandImages(rng, 50, 20, 20, 3, 5);
    for (let i = 0; i < 50; i++)
      await sharp(Buffer.from(flat.images.data.subarray(i * 1200, (i + 1) * 1200)), { raw: { width: 20, height: 20, channels: 3 } })
        .png().toFile(path.join(dir, `${String(i).padStart(3, '0')}.png`));
    const stdout = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), 'train', '--data', dir, '--size', '16', '--out', out,
      '--epochs', '1', '--batch-size', '16', '--width', '4', '--queue-size', '32', '--quiet'], { encoding: 'utf8' });
    expect(stdout).toMatch(/splits: train \d+ images \(the kNN bank\), validation \d+, test 10/);
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(count(html, /<circle class="pt"/g)).toBe(10);
    expect(count(html, /<g class="lg"/g)).toBe(0);
    expect(count(html, /<td class="nn-cell"/g)).toBe(64);
    expect(html).toContain('the test split has no labels: the points are not coloured by class');
    expect(html).toContain('the test split has no labels: neighbours are not marked right or wrong');
  });

  const name = 'in headless Chromium: points, classes, rows, cells and red borders as computed here; a non-blank screenshot';
  const maybe = haveChromium ? test : test.skip;
  maybe(haveChromium ? name : `${name} (SKIPPED: no Chromium at ${CHROMIUM}; apt-get install chromium, or set CLSA_CHROMIUM)`, async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      for (const [which, want] of Object.entries(pages)) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(`file://${want.file}`);
        await page.waitForLoadState('load');
        // (The page's DOM, typed here as strings: the test compiles without the DOM library.)
        const seen = await page.evaluate(`(() => {
          const map = document.querySelector('svg.map');
          const rows = [...document.querySelectorAll('table.nn tr.nn-row')];
          const red = (el) => getComputedStyle(el).borderTopColor === 'rgb(214, 39, 40)';
          const imgs = [...document.querySelectorAll('table.nn img')];
          return {
            points: map.querySelectorAll('circle.pt').length,
            classes: map.querySelectorAll('g.lg').length,
            pointClasses: new Set([...map.querySelectorAll('circle.pt')].map((c) => c.getAttribute('fill'))).size,
            rows: rows.length,
            cellsPerRow: rows.map((r) => r.querySelectorAll('td.nn-cell').length),
            queryRows: rows.map((r) => Number(r.dataset.row)),
            red: [...document.querySelectorAll('td.nn-cell img')].filter(red).length,
            redMarked: document.querySelectorAll('td.nn-cell.wrong').length,
            imagesLoaded: imgs.every((i) => i.complete && i.naturalWidth > 0),
            images: imgs.length,
            mapBox: map.getBoundingClientRect().width,
          };
        })()`) as { points: number; classes: number; pointClasses: number; rows: number; cellsPerRow: number[]; queryRows: number[];
          red: number; redMarked: number; imagesLoaded: boolean; images: number; mapBox: number };
        const wrong = want.wrong(seen.queryRows);
        const ctx = `${which} page, seed ${seed}`;
        expect({ ctx, ...seen }).toMatchObject({ ctx, points: want.points, classes: want.classes, pointClasses: want.classes, rows: want.queries,
          cellsPerRow: Array(want.queries).fill(want.k), red: wrong, redMarked: wrong, imagesLoaded: true, images: want.queries * (want.k + 1) });
        expect(seen.mapBox).toBeGreaterThan(400);
        expect(new Set(seen.queryRows).size).toBe(want.queries);
        // Self-contained: the page asked for itself and data: URIs only.
        expect(requests.filter((u) => !u.startsWith('data:') && u !== `file://${want.file}`)).toEqual([]);
        const shot = path.join(tmp, `report-${which}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        const mapShot = path.join(tmp, `report-${which}-map.png`);
        await page.locator('svg.map').screenshot({ path: mapShot });
        const full = PNG.sync.read(fs.readFileSync(shot)), map = PNG.sync.read(fs.readFileSync(mapShot));
        expect(full.width).toBe(1280);
        expect(full.height).toBeGreaterThan(1500);
        const inked = (png: PNG) => {
          let n = 0;
          for (let i = 0; i < png.data.length; i += 4) if (png.data[i] < 200 || png.data[i + 1] < 200 || png.data[i + 2] < 200) n++;
          return n / (png.width * png.height);
        };
        expect(inked(full)).toBeGreaterThan(0.02);
        // The map holds coloured points, not just its frame and text: pixels far from grey.
        let coloured = 0;
        for (let i = 0; i < map.data.length; i += 4) {
          const [r, g, b] = [map.data[i], map.data[i + 1], map.data[i + 2]];
          if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
        }
        expect(coloured).toBeGreaterThan(want.points * 4);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120000);
});
