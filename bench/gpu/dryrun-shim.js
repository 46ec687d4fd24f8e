// Dry run of bench/gpu/run.js on a machine without a GPU (`node bench/gpu/run.js --dry-run`):
// the addon's device entry points are replaced by host-memory stand-ins that call the CPU
// kernels, so that the script's logic and the TypeScript device plumbing (DeviceTensor, the
// head/EMA/Queue device paths) run end to end. Numbers it prints are NOT GPU results: every
// precision is computed in fp32 on the CPU and timings are fake.
'use strict';

module.exports = function installDryRun(nat) {
  const names = ['DeviceBuffer', 'backend', 'headSync', 'head', 'momentumUpdate', 'queueEnqueue', 'scanRows',
                 'cudaBenchHead', 'cudaBenchMomentum', 'cudaBenchEnqueue'];
  const saved = Object.fromEntries(names.map((k) => [k, nat[k]]));
  const real = saved;
  class FakeBuffer {
    constructor(deviceIndex, length) {
      this.arr = new Float32Array(length);
      this.deviceIndex = deviceIndex;
      this.length = length;
      this.disposed = false;
    }
    live() { if (this.disposed) throw new Error('DeviceTensor: used after dispose()'); return this.arr; }
    upload(src, off = 0) { this.live().set(src, off); }
    download(dst, off = 0) { dst.set(this.live().subarray(off, off + dst.length)); }
    fill(v) { this.live().fill(v); }
    copyFrom(o) { this.live().set(o.live()); }
    dispose() { this.disposed = true; this.arr = new Float32Array(0); }
  }
  const host = (t) => (t instanceof FakeBuffer ? t.live() : t);
  const hostArgs = (a) => {
    const o = { ...a, precision: 0 };
    for (const k of ['weak', 'strong', 'keys', 'queue', 'gradWeak', 'gradStrong', 'stats']) o[k] = a[k] == null ? a[k] : host(a[k]);
    return o;
  };
  nat.DeviceBuffer = FakeBuffer;
  nat.backend = () => ({
    ...real.backend(), cudaState: 'usable', cudaMessage: 'DRY RUN: host memory stands in for the GPU',
    devices: [{ index: 0, name: 'dry-run (CPU)', computeCapability: '9.0', multiprocessors: 132, totalMemory: 0, freeMemory: 0 }],
  });
  nat.headSync = (a) => real.headSync(hostArgs(a));
  nat.head = (a) => real.head(hostArgs(a));
  nat.momentumUpdate = (t, s, m) => real.momentumUpdate(host(t), host(s), m);
  nat.queueEnqueue = (q, k, d, keys, n, norm, p) => real.queueEnqueue(host(q), k, d, host(keys), n, norm, p);
  nat.scanRows = (x, r, c) => real.scanRows(host(x), r, c);
  const fake = (tm) => Array.from({ length: (tm && tm.samples) || 5 }, () => 1);
  nat.cudaBenchHead = (a, sets, tm) => ({ timesMs: fake(tm), workspaceBytes: 0, freeDrop: 0 });
  nat.cudaBenchMomentum = (t, s, m, tm) => ({ timesMs: fake(tm) });
  nat.cudaBenchEnqueue = (q, k, d, keys, n, norm, tm) => ({ timesMs: fake(tm) });
  const live = () => created.filter((b) => !b.disposed).length;
  const created = [];
  const Base = nat.DeviceBuffer;
  nat.DeviceBuffer = class extends Base {
    constructor(i, n) { super(i, n); created.push(this); }
  };
  // Returns an uninstaller and a counter of live (undisposed) stand-in buffers.
  return { uninstall: () => Object.assign(nat, saved), live };
};
