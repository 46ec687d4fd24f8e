// NumPy .npy files (format version 1.0: magic, a header dict, the raw little-endian array), so
// that features leave clsa for Python with a plain np.load, and come back (saved search indexes).
// The format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
import * as fs from 'fs';
import * as os from 'os';
import { checkInputFile, checkOutputFile, writeFileAtomic } from './fsutil';
import { FormatError } from './errors';
import { describe } from './validate';

export type NpyArray = Float32Array | Int32Array;

export interface NpyTensor<T extends NpyArray = NpyArray> {
  data: T;
  shape: number[];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];  // "\x93NUMPY"
const DESCR: Record<string, string> = { '[object Float32Array]': '<f4', '[object Int32Array]': '<i4' };

function checkArray(name: string, t: NpyTensor): string {
  if (typeof t !== 'object' || t === null) throw new TypeError(`${name}: expected { data: Float32Array | Int32Array, shape } but got ${describe(t)}`);
  const descr = DESCR[Object.prototype.toString.call(t.data)];
  if (!descr) throw new TypeError(`${name}.data: expected a Float32Array or an Int32Array but got ${describe(t.data)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new RangeError(`${name}.shape: expected an array of integers >= 0 but got ${describe(t.shape)}`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count !== t.data.length)
    throw new RangeError(`${name}.data: expected ${count} values for shape [${t.shape.join(', ')}] but got ${t.data.length}`);
  return descr;
}

/** The 1.0 header: the dict padded with spaces so that the data starts at a multiple of 64 bytes. */
function header(descr: string, shape: number[]): Uint8Array {
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const unpadded = 10 + dict.length + 1;
  const len = dict.length + 1 + ((64 - (unpadded % 64)) % 64);
  if (len > 65535) throw new RangeError(`shape: [${shape.join(', ')}] makes a header too long for .npy version 1.0`);
  const out = new Uint8Array(10 + len);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = len & 255;
  out[9] = len >> 8;
  out.set(Buffer.from(dict.padEnd(len - 1, ' ') + '\n', 'latin1'), 10);
  return out;
}

function littleEndianBytes(data: NpyArray): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (os.endianness() === 'LE') return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) for (let j = 0; j < 4; j++) out[i + j] = bytes[i + 3 - j];
  return out;
}

/** The .npy bytes of a float32 or int32 array in C order (header and data as two chunks). */
export function encodeNpy(t: NpyTensor, name = 'array'): Uint8Array[] {
  if (typeof name !== 'string') throw new TypeError(`name: expected a string but got ${describe(name)}`);
  const descr = checkArray(name, t);
  return [header(descr, t.shape), littleEndianBytes(t.data)];
}

/** Writes a .npy file atomically (temp file, fsync, rename). */
export async function writeNpy(file: string, t: NpyTensor, name = 'array'): Promise<void> {
  checkOutputFile('file', file);
  await writeFileAtomic(file, encodeNpy(t, name));
}

/** Parses a .npy (versions 1-3) holding little-endian float32 or int32 in C order. */
export function decodeNpy(bytes: Uint8Array, what = 'npy'): NpyTensor {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes: expected a Uint8Array but got ${describe(bytes)}`);
  if (typeof what !== 'string') throw new TypeError(`what: expected a name for the bytes but got ${describe(what)}`);
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) throw new FormatError(what, `${what}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6];
  if (major < 1 || major > 3) throw new FormatError(what, `${what}: .npy format version ${major} is not one this reader knows (1 to 3)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const dict = Buffer.from(bytes.subarray(start, start + hlen)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr':\s*'([^']*)'/.exec(dict)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new FormatError(what, `${what}: malformed .npy header ${JSON.stringify(dict)}`);
  if (fortran !== 'False') throw new FormatError(what, `${what}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText.split(',').map((x) => x.trim()).filter((x) => x.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const kind = descr === '<f4' ? 'f4' : descr === '<i4' ? 'i4' : undefined;
  if (!kind) throw new FormatError(what, `${what}: dtype ${descr} is not supported (expected '<f4' float32 or '<i4' int32)`);
  const off = start + hlen;
  if (bytes.length - off !== 4 * count) throw new FormatError(what, `${what}: expected ${4 * count} data bytes for shape (${shape.join(', ')}) but the file has ${bytes.length - off}`);
  if (os.endianness() === 'LE') {
    // A copy into a fresh buffer: aligned, and independent of the file's bytes (a Buffer's slice()
    // would share them, hence the Uint8Array constructor).
    const buf = new Uint8Array(bytes.subarray(off)).buffer;
    return { data: kind === 'f4' ? new Float32Array(buf) : new Int32Array(buf), shape };
  }
  const data = kind === 'f4' ? new Float32Array(count) : new Int32Array(count);
  for (let i = 0; i < count; i++) data[i] = kind === 'f4' ? view.getFloat32(off + 4 * i, true) : view.getInt32(off + 4 * i, true);
  return { data, shape };
}

export function readNpy(file: string): NpyTensor {
  return decodeNpy(fs.readFileSync(checkInputFile('file', file)), file);
}
