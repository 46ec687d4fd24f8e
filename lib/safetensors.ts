// The safetensors format (https://huggingface.co/docs/safetensors), read and written exactly as
// the reference implementation lays it out:
//   8 bytes   little-endian u64 N = header length
//   N bytes   UTF-8 JSON: { "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] } }
//             padded with spaces so the data starts at a multiple of 8 bytes
//   data      the tensors' little-endian bytes, contiguous, offsets relative to the data start
// Tensors are laid out in descending dtype alignment, then by name (as the Rust crate does), so
// every tensor's bytes are aligned to its element size within the file.
import * as fs from 'fs';
import { checkInputFile, checkOutputFile, writeFileAtomicSync } from './fsutil';
import { FormatError } from './errors';
import { describe } from './validate';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export type TensorData = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array |
  Uint16Array | Uint8Array | BigInt64Array | BigUint64Array;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Typed array of the dtype's natural JS type (F16/BF16: raw Uint16Array bits; BOOL: Uint8Array). */
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const NATURAL: Record<Dtype, string> = {
  F64: 'Float64Array', F32: 'Float32Array', F16: 'Uint16Array', BF16: 'Uint16Array', I64: 'BigInt64Array',
  I32: 'Int32Array', I16: 'Int16Array', I8: 'Int8Array', U64: 'BigUint64Array', U32: 'Uint32Array',
  U16: 'Uint16Array', U8: 'Uint8Array', BOOL: 'Uint8Array',
};

/** Own keys only: 'constructor' or 'valueOf' are in DTYPE_BYTES too, through its prototype. */
function isDtype(v: unknown): v is Dtype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, v);
}

const MAX_HEADER = 100 * 1024 * 1024;  // the reference implementation's limit

function tag(v: unknown): string {
  return Object.prototype.toString.call(v).slice(8, -1);
}

function little(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** Serialises tensors (+ optional string metadata) to the bytes of a .safetensors file. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Buffer {
  if (!little()) throw new Error('safetensors: big-endian hosts are not supported');
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors))
    throw new TypeError(`tensors: expected { name: { dtype, shape, data } } but got ${describe(tensors)}`);
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)))
    throw new TypeError(`metadata: expected { key: string } but got ${describe(metadata)}`);
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === '__metadata__') throw new RangeError(`tensors: the name "__metadata__" is reserved by the format`);
    const t = tensors[name];
    if (!t || typeof t !== 'object') throw new TypeError(`tensors["${name}"]: expected { dtype, shape, data } but got ${typeof t}`);
    if (!isDtype(t.dtype)) throw new RangeError(`tensors["${name}"].dtype: expected one of ${Object.keys(DTYPE_BYTES).join(', ')} but got ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((s) => Number.isInteger(s) && s >= 0))
      throw new RangeError(`tensors["${name}"].shape: expected an array of integers >= 0 but got ${JSON.stringify(t.shape)}`);
    if (tag(t.data) !== NATURAL[t.dtype])
      throw new TypeError(`tensors["${name}"].data: expected a ${NATURAL[t.dtype]} for dtype ${t.dtype} but got ${tag(t.data)}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count)
      throw new RangeError(`tensors["${name}"].data: expected ${count} elements for shape [${t.shape.join(', ')}] but got ${t.data.length}`);
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string') throw new TypeError(`metadata["${k}"]: expected a string (the format allows only strings) but got ${typeof v}`);
  }
  const order = names.slice().sort((a, b) => {
    const da = DTYPE_BYTES[tensors[a].dtype], db = DTYPE_BYTES[tensors[b].dtype];
    return da !== db ? db - da : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of order) {
    const t = tensors[name];
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const name of order) {
    const d = tensors[name].data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, at);
    at += d.byteLength;
  }
  return out;
}

/** Parses the bytes of a .safetensors file; every inconsistency is an error naming `source`. */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors'): SafetensorsFile {
  if (!little()) throw new Error('safetensors: big-endian hosts are not supported');
  if (!(buf instanceof Uint8Array)) throw new TypeError(`buf: expected a Uint8Array but got ${describe(buf)}`);
  if (typeof source !== 'string') throw new TypeError(`source: expected a name for the bytes but got ${describe(source)}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8) throw new FormatError(source, `${source}: expected at least 8 bytes (the header length) but the file has ${b.length}`);
  const n = b.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER) || Number(n) > b.length - 8)
    throw new FormatError(source, `${source}: header length ${n} is larger than the file (${b.length - 8} bytes after the length) or the ${MAX_HEADER}-byte limit`);
  const hlen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(b.subarray(8, 8 + hlen).toString('utf8'));
  } catch (err) {
    throw new FormatError(source, `${source}: the header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new FormatError(source, `${source}: expected a JSON object as header`);
  const data = b.subarray(8 + hlen);
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Object.values(v).some((x) => typeof x !== 'string'))
        throw new FormatError(source, `${source}: __metadata__ must map strings to strings`);
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDtype(e.dtype))
      throw new FormatError(source, `${source}: tensor "${name}" has an unknown dtype ${JSON.stringify(e.dtype)}`);
    const dtype = e.dtype as Dtype;
    if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isInteger(s) && s >= 0))
      throw new FormatError(source, `${source}: tensor "${name}" has a bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[1] < off[0])
      throw new FormatError(source, `${source}: tensor "${name}" has bad data_offsets ${JSON.stringify(off)}`);
    const count = (e.shape as number[]).reduce((a, c) => a * c, 1);
    const bytes = count * DTYPE_BYTES[dtype];
    if (off[1] - off[0] !== bytes)
      throw new FormatError(source, `${source}: tensor "${name}" spans ${off[1] - off[0]} bytes but dtype ${dtype} x shape [${(e.shape as number[]).join(', ')}] needs ${bytes}`);
    if (off[1] > data.length)
      throw new FormatError(source, `${source}: tensor "${name}" ends at byte ${off[1]} of the data but the file holds only ${data.length} (truncated?)`);
    spans.push([off[0], off[1], name]);
    // Copy into a fresh, aligned buffer: the file's offsets need not be aligned for our typed arrays.
    const raw = new Uint8Array(bytes);
    raw.set(data.subarray(off[0], off[1]));
    const ctor = (globalThis as unknown as Record<string, new (b: ArrayBuffer) => TensorData>)[NATURAL[dtype]];
    tensors[name] = { dtype, shape: e.shape as number[], data: new ctor(raw.buffer) };
  }
  // The format requires the tensors to cover the data exactly, without holes or overlaps.
  spans.sort((x, y) => x[0] - y[0]);
  let end = 0;
  for (const [s, e, name] of spans) {
    if (s !== end) throw new FormatError(source, `${source}: tensor "${name}" starts at byte ${s} but the previous tensor ends at ${end} (hole or overlap)`);
    end = e;
  }
  if (end !== data.length) throw new FormatError(source, `${source}: the tensors cover ${end} bytes but the data section has ${data.length}`);
  return { tensors, metadata };
}

/** Writes a .safetensors file atomically. */
export function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  checkOutputFile('file', file);
  writeFileAtomicSync(file, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(file: string): SafetensorsFile {
  return decodeSafetensors(fs.readFileSync(checkInputFile('file', file)), file);
}
