// The IDX format of the MNIST family: big-endian magic (0, 0, type, dims), dims as u32 BE, then
// the data. Gzipped files (magic 1f 8b) are inflated first. Every malformation is an error
// naming the file and what was expected.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { FormatError } from './errors';
import { checkInputFile } from './fsutil';
import { checkInt, describe } from './validate';

export interface IdxArray {
  /** dims as stored, e.g. [60000, 28, 28] */
  dims: number[];
  data: Uint8Array;
}

/** Reads a file, inflating it when it starts with the gzip magic. */
export function readMaybeGzip(file: string, name = 'file'): Buffer {
  const raw = fs.readFileSync(checkInputFile(name, file));
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (err) {
      throw new FormatError(file, `${file}: bad gzip data (${(err as Error).message}); the file is corrupt or truncated`);
    }
  }
  if (file.endsWith('.gz')) throw new FormatError(file, `${file}: expected gzip data (magic 1f 8b) for a .gz file but got ${raw.subarray(0, 2).toString('hex') || 'an empty file'}`);
  return raw;
}

/** Parses IDX bytes holding unsigned bytes (type 0x08), the only type the MNIST family uses. */
export function parseIdx(buf: Uint8Array, source: string, expectDims?: number): IdxArray {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`buf: expected a Uint8Array but got ${describe(buf)}`);
  if (typeof source !== 'string') throw new TypeError(`source: expected a name for the bytes but got ${describe(source)}`);
  if (expectDims !== undefined) checkInt('expectDims', expectDims, 1, 255);
  if (buf.length < 4) throw new FormatError(source, `${source}: expected an IDX header (4 magic bytes) but the file has ${buf.length} bytes`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new FormatError(source, `${source}: bad IDX magic ${Buffer.from(buf.subarray(0, 4)).toString('hex')} (expected 0000 then type and dimension count)`);
  if (buf[2] !== 0x08) throw new FormatError(source, `${source}: expected IDX type 0x08 (unsigned bytes) but got 0x${buf[2].toString(16).padStart(2, '0')}`);
  const nd = buf[3];
  if (expectDims !== undefined && nd !== expectDims)
    throw new FormatError(source, `${source}: expected ${expectDims} IDX dimensions but the header says ${nd}`);
  if (nd < 1) throw new FormatError(source, `${source}: expected at least one IDX dimension but the header says 0`);
  if (buf.length < 4 + 4 * nd) throw new FormatError(source, `${source}: the header needs ${4 + 4 * nd} bytes but the file has ${buf.length} (truncated)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * nd;
  if (buf.length - start < count)
    throw new FormatError(source, `${source}: dims [${dims.join(', ')}] need ${count} data bytes but the file has ${buf.length - start} (truncated)`);
  if (buf.length - start > count)
    throw new FormatError(source, `${source}: dims [${dims.join(', ')}] need ${count} data bytes but the file has ${buf.length - start} (trailing data)`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, count) };
}

export function readIdx(file: string, expectDims?: number, name = 'file'): IdxArray {
  return parseIdx(readMaybeGzip(file, name), file, expectDims);
}

/** The bytes of an IDX file of unsigned bytes with these dims. */
export function encodeIdx(dims: number[], data: Uint8Array): Buffer {
  if (!Array.isArray(dims) || dims.length < 1 || dims.length > 255)
    throw new RangeError(`dims: expected 1 to 255 dimensions but got ${describe(dims)}`);
  dims.forEach((d, i) => checkInt(`dims[${i}]`, d, 0, 2 ** 32 - 1));
  if (!(data instanceof Uint8Array)) throw new TypeError(`data: expected a Uint8Array but got ${describe(data)}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`data: expected ${count} bytes for dims [${dims.join(', ')}] but got ${data.length}`);
  const out = Buffer.alloc(4 + 4 * dims.length + count);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
