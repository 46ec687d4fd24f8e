// Atomic file and directory writes: readers see the old content or the new, never a torn file.
// Files: write a temp file in the same directory, fsync it, rename over the target, fsync the
// directory. Directories: fill a temp sibling, then swap it in (the old one stays until the new
// one is complete, and is removed only after the rename).
import * as fs from 'fs';
import * as path from 'path';

export type FileData = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

function tempName(target: string): string {
  const dir = path.dirname(target), base = path.basename(target);
  return path.join(dir, `.${base}.tmp-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
}

function fsyncDir(dir: string): void {
  // Makes the rename durable; some file systems refuse fsync on directories, which is fine.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported here */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function isChunk(v: unknown): v is string | Uint8Array {
  return typeof v === 'string' || ArrayBuffer.isView(v);
}

function toBytes(chunk: string | Uint8Array): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

/** Writes `data` to `file` atomically (synchronous; `data` may be an iterable of chunks). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array | Iterable<string | Uint8Array>): void {
  const tmp = tempName(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    const chunks = isChunk(data) ? [data] : data;
    for (const c of chunks) {
      const b = toBytes(c);
      let off = 0;
      while (off < b.byteLength) off += fs.writeSync(fd, b, off, b.byteLength - off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/** Writes `data` to `file` atomically; chunks may come from an async iterable (a stream). */
export async function writeFileAtomic(file: string, data: FileData): Promise<void> {
  const tmp = tempName(file);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx', 0o644);
    if (isChunk(data)) {
      await fh.write(toBytes(data));
    } else {
      for await (const c of data as AsyncIterable<string | Uint8Array>) await fh.write(toBytes(c));
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.promises.rename(tmp, file);
  } catch (err) {
    if (fh !== undefined) await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/**
 * Builds a directory atomically: `fill(tmpDir)` writes into a fresh temp sibling; when it
 * resolves, the old `dir` (if any) is moved aside, the new one renamed into place, and the old
 * one removed. If `fill` throws, the temp dir is removed and `dir` is untouched.
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = tempName(dir);
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = fs.existsSync(dir) ? tempName(dir) + '.old' : undefined;
  if (old) fs.renameSync(dir, old);
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    if (old) fs.renameSync(old, dir);  // put the old one back
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fsyncDir(parent);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Appends one line to `file` and fsyncs it. A single write(2) of a line in O_APPEND mode is not
 * interleaved with other appenders' lines; a crash can lose at most the last, partial line
 * (readers should skip a final line that does not parse).
 */
export function appendLineSync(file: string, line: string): void {
  if (line.includes('\n')) throw new RangeError(`line: expected a single line without "\\n" but got ${JSON.stringify(line.slice(0, 60))}`);
  const fd = fs.openSync(file, 'a', 0o644);
  try {
    const b = Buffer.from(line + '\n', 'utf8');
    let off = 0;
    while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
