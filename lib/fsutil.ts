// Atomic file and directory writes: readers see the old content or the new, never a torn file.
// Files: write a temp file in the same directory, fsync it, rename over the target, fsync the
// directory. Directories: fill a temp sibling, then swap it in (the old one stays until the new
// one is complete, and is removed only after the rename). What a crash leaves: lib/leftovers.ts.
import * as fs from 'fs';
import * as path from 'path';
import { crashPoint } from './crashpoint';
import { leftoverName, readableDir, recoverLeftovers } from './leftovers';
import { checkOptions, describe } from './validate';

export type FileData = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

function tempName(target: string): string {
  recoverLeftovers(target, (p) => fs.rmSync(p, { recursive: true, force: true }));
  return leftoverName(target, 'tmp');
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

/** A file to read: a path that exists and is not a directory; errors name `name`. */
export function checkInputFile(name: string, file: unknown): string {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`${name}: expected a file path but got ${describe(file)}`);
  if (!fs.existsSync(file)) throw new RangeError(`${name}: ${file} does not exist`);
  if (fs.statSync(file).isDirectory()) throw new RangeError(`${name}: expected a file but ${file} is a directory`);
  return file;
}

/** A file to write: a path in a directory that exists, not itself a directory; errors name `name`. */
export function checkOutputFile(name: string, file: unknown): string {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`${name}: expected a file path but got ${describe(file)}`);
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new RangeError(`${name}: the directory ${dir} of ${file} does not exist`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new RangeError(`${name}: ${file} is a directory, expected a file path`);
  return file;
}

function checkData(data: unknown, async: boolean): void {
  if (isChunk(data)) return;
  const iterable = typeof data === 'object' && data !== null &&
    (typeof (data as Iterable<unknown>)[Symbol.iterator] === 'function' || (async && typeof (data as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'));
  if (!iterable || (Array.isArray(data) && !data.every(isChunk)))
    throw new TypeError(`data: expected a string, a Uint8Array or an iterable of them but got ${describe(data)}`);
}

/** Writes `data` to `file` atomically (synchronous; `data` may be an iterable of chunks). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array | Iterable<string | Uint8Array>): void {
  checkOutputFile('file', file);
  checkData(data, false);
  const tmp = tempName(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    const chunks = isChunk(data) ? [data] : data;
    for (const c of chunks) {
      if (!isChunk(c)) throw new TypeError(`data: expected chunks that are strings or Uint8Arrays but got ${describe(c)}`);
      const b = toBytes(c);
      let off = 0;
      while (off < b.byteLength) off += fs.writeSync(fd, b, off, b.byteLength - off);
      crashPoint('file-write');
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    crashPoint('file-synced');
    fs.renameSync(tmp, file);
    crashPoint('file-renamed');
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

/** Writes `data` to `file` atomically; chunks may come from an async iterable (a stream). */
export async function writeFileAtomic(file: string, data: FileData): Promise<void> {
  checkOutputFile('file', file);
  checkData(data, true);
  const tmp = tempName(file);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx', 0o644);
    if (isChunk(data)) {
      await fh.write(toBytes(data));
      crashPoint('file-write');
    } else {
      for await (const c of data as AsyncIterable<string | Uint8Array>) {
        if (!isChunk(c)) throw new TypeError(`data: expected chunks that are strings or Uint8Arrays but got ${describe(c)}`);
        await fh.write(toBytes(c));
        crashPoint('file-write');
      }
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    crashPoint('file-synced');
    await fs.promises.rename(tmp, file);
    crashPoint('file-renamed');
  } catch (err) {
    if (fh !== undefined) await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(file));
}

export interface DirWriteOptions {
  /** The argument `dir` came from, for messages (default 'dir'). */
  name?: string;
  /**
   * Whether an existing non-empty directory may be replaced, from what it holds. The library's
   * writers replace only what they wrote (a model, a checkpoint, a search index), never a user's
   * other directory named by mistake. Default: any directory.
   */
  replaceable?: (dir: string) => boolean;
}

/** Refuses a `dir` that exists and is not a directory, or that `replaceable` does not accept. */
export function checkReplaceable(dir: string, options: DirWriteOptions = {}): void {
  const name = options.name ?? 'dir';
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${name}: expected a directory path but got ${describe(dir)}`);
  const where = readableDir(dir);
  if (!fs.existsSync(where)) return;
  if (!fs.statSync(where).isDirectory()) throw new RangeError(`${name}: expected a directory but ${dir} is a file`);
  if (options.replaceable && fs.readdirSync(where).length > 0 && !options.replaceable(where))
    throw new RangeError(`${name}: ${dir} holds files clsa did not write there, and saving replaces the whole directory; ` +
      'choose a new or empty directory');
}

/** Deletes a tree entry by entry (each step a crash point for the tests). */
function removeTree(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    fs.rmSync(dir, { force: true });
    return;
  }
  for (const e of entries) {
    fs.rmSync(path.join(dir, e), { recursive: true, force: true });
    crashPoint('dir-trash-part');
  }
  fs.rmdirSync(dir);
}

/**
 * Builds a directory atomically: `fill(tmpDir)` writes into a fresh temp sibling; when it
 * resolves, the old `dir` (if any) is moved aside, the new one renamed into place, and the old
 * one removed. If `fill` throws, the temp dir is removed and `dir` is untouched. A process killed
 * at any instant leaves the old directory or the new one, complete: in the instant between the
 * two renames only as the moved-aside sibling, which readers find (readableDir) and the next
 * write puts back (lib/leftovers.ts).
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void,
                                     userOptions: DirWriteOptions = {}): Promise<void> {
  if (typeof fill !== 'function') throw new TypeError(`fill: expected a function (tmpDir) => void but got ${describe(fill)}`);
  const options = checkOptions('options', userOptions);
  if (options.name !== undefined && typeof options.name !== 'string') throw new TypeError(`options.name: expected a string but got ${describe(options.name)}`);
  if (options.replaceable !== undefined && typeof options.replaceable !== 'function')
    throw new TypeError(`options.replaceable: expected a function (dir) => boolean but got ${describe(options.replaceable)}`);
  checkReplaceable(dir, options);
  const target = path.resolve(dir), parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  recoverLeftovers(target, removeTree);
  const tmp = leftoverName(target, 'tmp');
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fsyncDir(tmp);
  crashPoint('dir-filled');
  const old = fs.existsSync(target) ? leftoverName(target, 'old') : undefined;
  if (old) {
    fs.renameSync(target, old);
    crashPoint('dir-old-aside');
  }
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    if (old) fs.renameSync(old, target);  // put the old one back
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fsyncDir(parent);
  if (old) {
    crashPoint('dir-swapped');
    const trash = leftoverName(target, 'trash');
    fs.renameSync(old, trash);
    crashPoint('dir-trashed');
    removeTree(trash);
  }
}

/**
 * Appends one line to `file` and fsyncs it. A single write(2) of a line in O_APPEND mode is not
 * interleaved with other appenders' lines; a crash can lose at most the last, partial line
 * (readers should skip a final line that does not parse).
 */
export function appendLineSync(file: string, line: string): void {
  checkOutputFile('file', file);
  if (typeof line !== 'string') throw new TypeError(`line: expected a string but got ${describe(line)}`);
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
