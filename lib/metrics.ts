// The metrics log: one JSON object per line in DIR/metrics.jsonl, appended and fsynced per line.
import * as fs from 'fs';
import * as path from 'path';
import { appendLineSync } from './fsutil';
import { describe } from './validate';

export const METRICS_FILE = 'metrics.jsonl';

/** A run directory: a path that is a directory or does not exist yet. */
function checkDir(name: string, dir: unknown): void {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`${name}: expected a directory path but got ${describe(dir)}`);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new RangeError(`${name}: expected a directory but ${dir} is a file`);
}

/** Appends `record` (a plain object of JSON values) as one line of DIR/metrics.jsonl. */
export function appendMetrics(dir: string, record: Record<string, unknown>): void {
  checkDir('dir', dir);
  if (typeof record !== 'object' || record === null || Array.isArray(record))
    throw new TypeError(`record: expected a plain object but got ${Array.isArray(record) ? 'an array' : typeof record}`);
  // Non-finite numbers are not JSON: write them as strings so the line stays parseable.
  let line: string;
  try {
    line = JSON.stringify(record, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  } catch (err) {
    throw new TypeError(`record: not JSON-serialisable (${(err as Error).message})`);
  }
  fs.mkdirSync(dir, { recursive: true });
  appendLineSync(path.join(dir, METRICS_FILE), line);
}

/** Reads DIR/metrics.jsonl; a torn last line (crash mid-append) is skipped, any other bad line throws. */
export function readMetrics(dir: string): Record<string, unknown>[] {
  checkDir('dir', dir);
  const file = path.join(dir, METRICS_FILE);
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Record<string, unknown>[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push(JSON.parse(l));
    } catch (err) {
      const last = lines.slice(i + 1).every((x) => x.trim() === '');
      if (!last) throw new Error(`${file}: line ${i + 1} is not valid JSON (${(err as Error).message})`);
    }
  });
  return out;
}
