import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderReport, writeReport } from '../lib/report';

// A 1x1 PNG (red pixel).
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

const history = [1, 2, 3].map((e) => ({
  epoch: e, loss: 10 - e * 1.25, nceLoss: 6 - e, ddmLoss: 4 - e * 0.25, knnAccuracy: 0.5 + e * 0.1, seconds: 12.5, lr: 0.03,
}));

test('the page is self-contained HTML with the numbers, charts, config and samples', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-report-'));
  try {
    const file = await writeReport(dir, {
      config: { epochs: 3, batchSize: 256, 'queue <K>': 4096 }, history, samplesPng: PNG, timing: { dataLoading: 1.5 },
      results: { 'linear probe': 0.8125 },
    });
    expect(file).toBe(path.join(dir, 'report.html'));
    const html = fs.readFileSync(file, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    // Balanced structure: every opened section/table/svg closed.
    for (const tag of ['section', 'table', 'svg', 'tr', 'main']) {
      const open = (html.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length;
      expect((html.match(new RegExp(`</${tag}>`, 'g')) ?? []).length).toBe(open);
    }
    // No external resources: no http(s) URLs, no src/href to anything but a data: URI.
    expect(html).not.toMatch(/https?:\/\//);
    for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(m[1].startsWith('data:')).toBe(true);
    expect(html).toContain(`data:image/png;base64,${PNG}`);
    // The numbers: final loss, kNN accuracy, config values (escaped), timing.
    expect(html).toContain('6.25');          // final loss
    expect(html).toContain('80.00%');        // final / best kNN accuracy
    expect(html).toContain('queue &lt;K&gt;');
    expect(html).toContain('4096');
    expect(html).toContain('0.8125');
    expect(html).toContain('37.5 s');        // 3 x 12.5 s
    expect((html.match(/<svg class="chart"/g) ?? []).length).toBe(2);
    for (const name of ['total', 'NCE', 'DDM', 'kNN (test)']) expect(html).toContain(`>${name}</text>`);
    expect((html.match(/<path d="M/g) ?? []).length).toBe(4);   // 3 loss curves + kNN
    expect(fs.readdirSync(dir)).toEqual(['report.html']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('charts cope with empty or single-point histories; bad input is named', () => {
  const empty = renderReport({ config: {}, history: [] });
  expect(empty).toContain('Training loss: no data');
  const one = renderReport({ config: {}, history: [{ epoch: 1, loss: 2 }] });
  expect(one).toMatch(/<path d="M[\d.]+ [\d.]+"/);
  expect(() => renderReport({ config: {}, history: [{ loss: 1 } as never] })).toThrow(/input\.history\[0\]: expected \{ epoch: number/);
  expect(() => renderReport({ config: {}, history: [], samplesPng: 'no/such/file.png' })).toThrow(/samplesPng: expected a PNG file path/);
  expect(() => renderReport({ config: {}, history: [], samplesPng: Buffer.from('GIF89a-not-a-png') })).toThrow(/not a PNG/);
});
