// A test hook for the writers: CLSA_CRASH_AT=POINT or POINT@N makes the process SIGKILL itself the
// N-th time (default the first) it passes POINT, so a test can stop a writer between any two of its
// steps (test/kill-writes.test.ts) instead of hoping a timer lands there. Unset, it costs an
// environment lookup per point.
//
// The points, in the order a directory write passes them (lib/fsutil.ts, lib/dirswap.ts):
//   file-write      a chunk of a file went into its temp file
//   file-synced     the temp file is complete and fsynced, not yet renamed over the target
//   file-renamed    renamed over the target, the directory not yet fsynced
//   dir-filled      the temp directory is complete, the old directory untouched
//   dir-old-aside   the old directory is moved aside and the new one is not yet in place
//   dir-swapped     the new directory is in place, the old one still aside
//   dir-trashed     the old directory is renamed for removal, not yet removed
//   dir-trash-part  part of that old directory is removed
export const CRASH_POINTS = [
  'file-write', 'file-synced', 'file-renamed', 'dir-filled', 'dir-old-aside', 'dir-swapped', 'dir-trashed', 'dir-trash-part',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const passed = new Map<string, number>();

export function crashPoint(point: CrashPoint): void {
  const spec = process.env.CLSA_CRASH_AT;
  if (!spec) return;
  const [name, nth] = spec.split('@');
  if (name !== point) return;
  const count = (passed.get(point) ?? 0) + 1;
  passed.set(point, count);
  if (count === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
