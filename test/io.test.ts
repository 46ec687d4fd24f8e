import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { appendLineSync, writeDirAtomic, writeFileAtomic, writeFileAtomicSync } from '../lib/fsutil';
import { appendMetrics, readMetrics } from '../lib/metrics';
import { loadModelFiles, saveModelFiles } from '../lib/modelfile';
import { decodeSafetensors, encodeSafetensors, readSafetensors, Tensor, writeSafetensors } from '../lib/safetensors';

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'clsa-io-')); });
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));

function sample(): Record<string, Tensor> {
  return {
    'encoder.conv1.weight': { dtype: 'F32', shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i) * 3) },
    'head.bias': { dtype: 'F32', shape: [5], data: new Float32Array([1.5, -2, 0, 1e-8, 3e7]) },
    'bn.num_batches': { dtype: 'I64', shape: [], data: new BigInt64Array([123456789012n]) },
    'queue.ptr': { dtype: 'I32', shape: [1], data: new Int32Array([-7]) },
    'mask': { dtype: 'U8', shape: [2, 3], data: new Uint8Array([1, 2, 3, 250, 251, 252]) },
    'half': { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) },
    'empty': { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  };
}

describe('safetensors', () => {
  test('round trip, layout as the reference implementation writes it', () => {
    const t = sample();
    const buf = encodeSafetensors(t, { format: 'pt', clsa: '0.1.0' });
    const n = Number(buf.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    expect(header.__metadata__).toEqual({ format: 'pt', clsa: '0.1.0' });
    // Largest alignment first, so every tensor starts at a multiple of its element size.
    expect(header['bn.num_batches'].data_offsets).toEqual([0, 8]);
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') continue;
      const e = v as { dtype: string; data_offsets: number[] };
      expect(e.data_offsets[0] % ({ I64: 8, F32: 4, I32: 4, F16: 2, U8: 1 } as Record<string, number>)[e.dtype]).toBe(0);
    }
    const back = decodeSafetensors(buf);
    expect(back.metadata).toEqual({ format: 'pt', clsa: '0.1.0' });
    for (const [k, v] of Object.entries(t)) {
      expect(back.tensors[k].dtype).toBe(v.dtype);
      expect(back.tensors[k].shape).toEqual(v.shape);
      expect(Array.from(back.tensors[k].data as ArrayLike<number | bigint>)).toEqual(Array.from(v.data as ArrayLike<number | bigint>));
    }
  });

  // Checks that need python3 (with numpy, and Hugging Face's safetensors) are skipped where it is
  // missing, with the reason in the skipped test's name.
  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  const hasSafetensors = spawnSync('python3', ['-c', 'import safetensors.numpy'], { encoding: 'utf8' }).status === 0;
  (hasNumpy ? test : test.skip)(`an independent reader (python3 + numpy) parses the file${hasNumpy ? '' : ' [skipped: python3 with numpy not found]'}`, () => {
    const file = path.join(tmp, 'm.safetensors');
    writeSafetensors(file, sample(), { note: 'héllo "quoted"' });
    const script = `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
h = json.loads(raw[8:8 + n])
data = raw[8 + n:]
dt = {'F32': '<f4', 'F16': '<f2', 'I64': '<i8', 'I32': '<i4', 'U8': 'u1'}
out = {'meta': h.pop('__metadata__', {})}
for k, v in h.items():
    b, e = v['data_offsets']
    a = np.frombuffer(data[b:e], dtype=dt[v['dtype']]).reshape(v['shape'])
    out[k] = {'shape': list(a.shape), 'sum': float(a.astype(np.float64).sum()), 'first': a.ravel()[:3].astype(np.float64).tolist()}
print(json.dumps(out))
`;
    const r = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
    expect(r.meta).toEqual({ note: 'héllo "quoted"' });
    const t = sample();
    for (const [k, v] of Object.entries(t)) {
      expect(r[k].shape).toEqual(v.shape);
      if (v.dtype === 'F16') { expect(r[k].first).toEqual([1, -2, 0.333251953125]); continue; }
      const vals = Array.from(v.data as ArrayLike<number | bigint>, Number);
      expect(r[k].sum).toBeCloseTo(vals.reduce((a, b) => a + b, 0), 0);
      expect(r[k].first).toEqual(vals.slice(0, 3).map((x) => (v.dtype === 'F32' ? Math.fround(x) : x)));
    }
  });

  (hasSafetensors ? test : test.skip)(`the Hugging Face safetensors package loads our file, and we load its file${
    hasSafetensors ? '' : ' [skipped: python3 cannot import safetensors (pip install safetensors numpy)]'}`, () => {
    const ours = path.join(tmp, 'ours.safetensors'), theirs = path.join(tmp, 'theirs.safetensors');
    writeSafetensors(ours, sample(), { format: 'np' });
    const script = `
import json, sys, numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], 'np') as f: meta = f.metadata()
save_file({'w': np.arange(6, dtype=np.float32).reshape(2, 3) / 4, 'i': np.array([5, -6], dtype=np.int64)}, sys.argv[2], metadata={'by': 'hf'})
print(json.dumps({'meta': meta, 't': {k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'sum': float(v.astype(np.float64).sum())} for k, v in t.items()}}))
`;
    const r = JSON.parse(execFileSync('python3', ['-c', script, ours, theirs], { encoding: 'utf8' }));
    expect(r.meta).toEqual({ format: 'np' });
    expect(r.t['encoder.conv1.weight']).toEqual({ dtype: 'float32', shape: [4, 3, 3, 3], sum: expect.any(Number) });
    expect(r.t['bn.num_batches'].sum).toBe(123456789012);
    expect(r.t['empty'].shape).toEqual([0, 4]);
    expect(r.t['half'].dtype).toBe('float16');
    const back = readSafetensors(theirs);
    expect(back.metadata).toEqual({ by: 'hf' });
    expect(back.tensors.w.shape).toEqual([2, 3]);
    expect(Array.from(back.tensors.w.data as Float32Array)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    expect(Array.from(back.tensors.i.data as BigInt64Array)).toEqual([5n, -6n]);
  });

  test('corrupt files give clear errors; bad input is named', () => {
    const buf = encodeSafetensors(sample());
    expect(() => decodeSafetensors(buf.subarray(0, 5), 'x')).toThrow(/x: expected at least 8 bytes/);
    expect(() => decodeSafetensors(buf.subarray(0, 40), 'x')).toThrow(/header length \d+ is larger than the file/);
    expect(() => decodeSafetensors(buf.subarray(0, buf.length - 4), 'x')).toThrow(/ends at byte \d+ of the data but the file holds only \d+ \(truncated\?\)/);
    const bad = Buffer.from(buf); bad[9] = 0x7b; bad[10] = 0x7b;
    expect(() => decodeSafetensors(bad, 'x')).toThrow(/x: the header is not valid JSON/);
    expect(() => decodeSafetensors(Buffer.concat([buf, Buffer.alloc(4)]), 'x')).toThrow(/cover \d+ bytes but the data section has \d+/);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(/tensors\["a"\]\.data: expected 4 elements for shape \[2, 2\] but got 3/);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Int32Array(1) } })).toThrow(/expected a Float32Array for dtype F32 but got Int32Array/);
    expect(() => encodeSafetensors({ a: { dtype: 'Q4' as 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(/tensors\["a"\]\.dtype: expected one of/);
    expect(() => encodeSafetensors({}, { a: 1 as unknown as string })).toThrow(/metadata\["a"\]: expected a string/);
  });

  test('writeSafetensors is atomic and readSafetensors reads it back', () => {
    const file = path.join(tmp, 'w.safetensors');
    writeSafetensors(file, { x: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    expect(Array.from(readSafetensors(file).tensors.x.data as Float32Array)).toEqual([1, 2]);
    expect(leftovers(tmp)).toEqual([]);
  });
});

describe('atomic writes', () => {
  test('file: new content replaces old; a failing writer leaves the old content and no temp file', async () => {
    const dir = path.join(tmp, 'atomic');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'a.json');
    writeFileAtomicSync(file, 'old');
    function* failing() { yield 'new-part-1'; throw new Error('disk full (simulated)'); }
    expect(() => writeFileAtomicSync(file, failing())).toThrow(/simulated/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    async function* failingAsync() { yield Buffer.from('x'.repeat(1 << 16)); throw new Error('stream broke (simulated)'); }
    await expect(writeFileAtomic(file, failingAsync())).rejects.toThrow(/simulated/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(leftovers(dir)).toEqual([]);
    await writeFileAtomic(file, (async function* () { yield 'a'; yield Buffer.from('b'); })());
    expect(fs.readFileSync(file, 'utf8')).toBe('ab');
    expect(fs.readdirSync(dir)).toEqual(['a.json']);
  });

  test('directory: swapped in whole; the old one stays intact when filling fails', async () => {
    const out = path.join(tmp, 'model');
    await writeDirAtomic(out, (d) => { fs.writeFileSync(path.join(d, 'config.json'), '{"v":1}'); });
    await expect(writeDirAtomic(out, (d) => {
      fs.writeFileSync(path.join(d, 'config.json'), '{"v":2}');
      throw new Error('crashed while writing weights (simulated)');
    })).rejects.toThrow(/simulated/);
    expect(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).toBe('{"v":1}');
    await writeDirAtomic(out, async (d) => { fs.writeFileSync(path.join(d, 'weights.safetensors'), 'w'); });
    expect(fs.readdirSync(out)).toEqual(['weights.safetensors']);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.model'))).toEqual([]);
  });

  test('metrics.jsonl: one fsynced line per record; a torn last line is skipped', () => {
    const dir = path.join(tmp, 'run');
    appendMetrics(dir, { epoch: 1, loss: 2.5 });
    appendMetrics(dir, { epoch: 2, loss: NaN });
    expect(readMetrics(dir)).toEqual([{ epoch: 1, loss: 2.5 }, { epoch: 2, loss: 'NaN' }]);
    fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"epoch": 3, "lo');
    expect(readMetrics(dir).length).toBe(2);
    expect(() => appendLineSync(path.join(dir, 'x'), 'a\nb')).toThrow(/expected a single line/);
    expect(() => appendMetrics(dir, [] as unknown as Record<string, unknown>)).toThrow(/expected a plain object but got an array/);
  });
});

describe('model directories', () => {
  test('config.json + model.safetensors saved as one swap and loaded back', async () => {
    const dir = path.join(tmp, 'enc');
    const tensors = { 'w': { dtype: 'F32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } };
    await saveModelFiles(dir, { config: { arch: 'resnet18', dim: 128 }, tensors, metadata: { epoch: '3' } }, { 'report.html': '<html></html>' });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'report.html']);
    const m = loadModelFiles(dir);
    expect(m.config).toEqual({ clsaFormat: 1, arch: 'resnet18', dim: 128 });
    expect(m.metadata).toEqual({ format: 'clsa', clsaFormat: '1', epoch: '3' });
    expect(Array.from(m.tensors.w.data as Float32Array)).toEqual([1, 2, 3, 4]);
    // A failing save (bad tensor) leaves the previous model in place.
    await expect(saveModelFiles(dir, { config: {}, tensors: { w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } } }))
      .rejects.toThrow(/expected 3 elements/);
    expect(loadModelFiles(dir).config.arch).toBe('resnet18');
    fs.rmSync(path.join(dir, 'model.safetensors'));
    expect(() => loadModelFiles(dir)).toThrow(/model\.safetensors is missing/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"clsaFormat": 99}');
    expect(() => loadModelFiles(path.join(tmp, 'none'))).toThrow(/no such model directory/);
    await expect(saveModelFiles(dir, { config: {}, tensors }, { '../x': 'a' })).rejects.toThrow(/extra: expected plain file names/);
  });
});
