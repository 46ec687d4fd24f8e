// The NCCL back end on one GPU (docs/distributed.md), the first check of it with a real NCCL:
// `node bench/gpu/nccl_check.js`, or under `mpirun -np N` for one rank per GPU. Opens an NCCL
// communicator (Open MPI's singleton start when not under mpirun), attaches a CUDA model to it
// (the configuration all-gather and the state broadcast through NCCL on device memory) and steps
// it beside an unattached twin from the same seed on the same views: with one rank the step makes
// no collective, so the two must agree; with several, each rank's twin sees only its rows and the
// losses are printed, not compared. Prints `skipped: <why>` and exits 0 where Open MPI, NCCL or a
// GPU is missing; exits 1 when a check fails.
'use strict';
const { ClsaModel, openDistributed, Rng } = require('../../dist');

async function main() {
  let comm;
  try {
    comm = openDistributed('nccl', 'nccl_check');
  } catch (err) {
    console.log(`nccl_check: skipped: ${err.message}`);
    return 0;
  }
  console.log(`nccl_check: ${comm.library} (${comm.version}), rank ${comm.rank} of ${comm.size}, GPU ${comm.deviceIndex}`);
  const config = { device: 'cuda', deviceIndex: comm.deviceIndex, width: 8, queueSize: 64, splitBN: 2, seed: 5 };
  const attached = ClsaModel.create(config), alone = ClsaModel.create(config);
  await attached.attach(comm, { checkEvery: 1 });
  const rng = new Rng(11);
  const view = (n, s) => {
    const data = new Float32Array(n * 3 * s * s);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    return { data, shape: [n, 3, s, s] };
  };
  let failed = 0;
  for (let step = 0; step < 3; step++) {
    const v = { key: view(16, 16), weak: [view(16, 16)], strong: [view(16, 12)] };
    const a = await attached.step(v, { lr: 0.05 }), b = await alone.step(v, { lr: 0.05 });
    const diff = Math.abs(a.loss - b.loss) / Math.abs(b.loss);
    const ok = comm.size > 1 || diff <= 1e-5;
    failed += ok ? 0 : 1;
    console.log(`nccl_check: step ${step + 1}: loss ${a.loss.toFixed(6)} attached, ${b.loss.toFixed(6)} alone` +
      `${comm.size > 1 ? '' : ` (relative difference ${diff.toExponential(2)}, bound 1e-5)`}, comm ${(a.seconds.comm * 1000).toFixed(3)} ms ${ok ? 'PASS' : 'FAIL'}`);
  }
  await attached.detach();
  attached.dispose();
  alone.dispose();
  console.log(`nccl_check: ${failed ? 'FAIL' : 'PASS'}`);
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.log(`nccl_check: FAIL: ${err.code ?? ''} ${err.message}`);
  process.exitCode = 1;
});
