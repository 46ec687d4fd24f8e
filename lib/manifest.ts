// The manifest of a directory clsa writes (a model, a checkpoint, a search index): the size and
// SHA-256 of every data file, stored in the directory's JSON file. A reader checks it, so a file
// that was truncated, flipped, or copied in from another save is an error rather than a model
// that silently computes something else.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { FormatError } from './errors';

export type FileManifest = Record<string, { bytes: number; sha256: string }>;

/** The manifest entry of bytes about to be written (one buffer or its chunks). */
export function manifestEntry(data: string | Uint8Array | Uint8Array[]): { bytes: number; sha256: string } {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  for (const c of Array.isArray(data) ? data : [data]) {
    const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    h.update(b);
    bytes += b.byteLength;
  }
  return { bytes, sha256: h.digest('hex') };
}

/**
 * Checks the files of `dir` against `manifest` (as stored in `jsonFile`); `read` gives the bytes
 * of files the caller has read already. Throws a FormatError naming the first file that differs.
 */
export function verifyManifest(dir: string, manifest: unknown, jsonFile: string, prefix = '',
                               read: Record<string, Uint8Array> = {}): void {
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest))
    throw new FormatError(jsonFile, `${prefix}${jsonFile}: the file manifest is not an object`);
  for (const [name, want] of Object.entries(manifest as Record<string, unknown>)) {
    const file = path.join(dir, name);
    const w = want as { bytes?: unknown; sha256?: unknown };
    if (name.includes('/') || name.includes('\\') || name.startsWith('.') || typeof w?.bytes !== 'number' || typeof w.sha256 !== 'string')
      throw new FormatError(jsonFile, `${prefix}${jsonFile}: malformed manifest entry ${JSON.stringify(name)}`);
    let data = read[name];
    if (!data) {
      if (!fs.existsSync(file)) throw new FormatError(file, `${prefix}${file}: missing (${jsonFile} lists it)`);
      data = fs.readFileSync(file);
    }
    const got = manifestEntry(data);
    if (got.bytes !== w.bytes || got.sha256 !== w.sha256)
      throw new FormatError(file, `${prefix}${file}: expected ${w.bytes} bytes with SHA-256 ${w.sha256.slice(0, 12)} (as ${jsonFile} ` +
        `records) but it has ${got.bytes} bytes with SHA-256 ${got.sha256.slice(0, 12)}; the file is corrupt or from another save`);
  }
}
