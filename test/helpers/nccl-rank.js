// One rank of test/distributed.test.ts's NCCL checks, started by mpirun with CLSA_NCCL_LIBRARY
// pointing at the host-memory stand-in (test/fake-nccl): `node nccl-rank.js DIR FAKE [main|auto]`.
// Writes DIR/<mode>-rank<r>.json with what each stage returned or threw, for the test to read.
// The stand-in works on host memory, so the collectives below hand the NCCL communicator host
// arrays, which a real NCCL would refuse (it takes device pointers): this exercises nccl.cpp's
// loading, bootstrap, calls and error mapping, not a GPU.
'use strict';
const fs = require('fs');
const path = require('path');
const { ClsaModel, openDistributed, trainClsa } = require('../../dist');
const { ncclUnavailable } = require('../../dist/distributed');
const { native } = require('../../dist/native');

const [dir, fake, mode] = process.argv.slice(2);
const rank = Number(process.env.OMPI_COMM_WORLD_RANK);
const out = {};
const caught = (err) => ({ code: err.code ?? err.name, message: err.message });

// A communicator straight from the addon (not the facade, which keeps one per process).
function create(library) {
  try {
    const c = new (native().NativeComm)({ backend: 2, deviceIndex: -1, library });
    out.created = (out.created ?? 0) + 1;
    return c;
  } catch (err) {
    return caught(err);
  }
}

async function attempt(f) {
  try {
    return { value: await f() };
  } catch (err) {
    return caught(err);
  }
}

async function main() {
  // 1. Rank 1 cannot load the library: both ranks fail, neither waits in ncclCommInitRank.
  out.missingOnRank1 = create(rank === 1 ? '/nonexistent/libnccl.so.2' : fake);
  // 2. Rank 0's ncclGetUniqueId fails: rank 1 hears of it instead of waiting for an id.
  process.env.CLSA_FAKE_NCCL_FAIL = 'ncclGetUniqueId:3';
  out.uniqueIdFails = create(fake);
  // 3. ncclCommInitRank fails everywhere: its result, mapped.
  process.env.CLSA_FAKE_NCCL_FAIL = 'ncclCommInitRank:2';
  out.initFails = create(fake);
  delete process.env.CLSA_FAKE_NCCL_FAIL;

  // 4. The facade: NCCL on the local rank's GPU, host collectives over MPI.
  const comm = openDistributed('nccl', 'options.distributed');
  out.info = { backend: comm.backend, rank: comm.rank, size: comm.size, localRank: comm.localRank, localSize: comm.localSize,
    deviceIndex: comm.deviceIndex, library: comm.library, version: comm.version };
  const h = comm.handle;
  const sum = Float32Array.of(rank + 1, 10 * (rank + 1), 0.5);
  await h.allReduce(sum, sum, 0);
  const mine = Float32Array.of(rank + 1, 10 * (rank + 1), 0.5);
  const mean = new Float32Array(3);
  await h.allReduce(mine, mean, 1);
  const gather = new Float32Array(6);
  await h.allGather(mine, gather);
  const words = new BigUint64Array(4);
  await h.allGather(BigUint64Array.of(BigInt(rank) << 40n, 7n), words);
  const bcast = Float32Array.of(100 * rank + 1, 200 * rank + 1);
  await h.broadcast(bcast, 1);
  out.collectives = { sum: [...sum], mean: [...mean], gather: [...gather], words: [...words].map(String), broadcast: [...bcast],
    mineAfter: [...mine], hostSum: [...await comm.allReduce(Float32Array.of(rank + 1), 'sum')] };
  await comm.barrier();

  // 5. A failed collective: the call, the rank, NCCL's text and its last error, mapped to a status.
  process.env.CLSA_FAKE_NCCL_FAIL = 'ncclAllReduce';
  out.allReduceFails = await attempt(() => h.allReduce(sum, sum, 0));
  process.env.CLSA_FAKE_NCCL_FAIL = 'ncclBroadcast:2';
  out.broadcastFails = await attempt(() => h.broadcast(bcast, 0));
  delete process.env.CLSA_FAKE_NCCL_FAIL;

  // 6. The back end and the model's device must match, in the facade and in the C API beneath.
  const cpu = ClsaModel.create({ device: 'cpu', width: 8, queueSize: 16, splitBN: 1 });
  out.attachCpu = await attempt(() => cpu.attach(comm));
  out.setCommCpu = await attempt(() => cpu.handle.setComm(comm.handle, 0));
  cpu.dispose();
  out.sameComm = openDistributed('nccl', 'options.distributed') === comm;
  out.otherBackend = await attempt(() => openDistributed('mpi', 'options.distributed'));
  out.trainCpu = await attempt(() => trainClsa({ data: path.join(dir, 'idx'), device: 'cpu', distributed: 'nccl', epochs: 1,
    batchSize: 16, splitBN: 1, width: 8, queueSize: 16, evaluate: false, validation: false }));
}

// 'auto' for a GPU model where rank 1 has no NCCL: both ranks fall back to MPI together.
async function auto() {
  if (rank === 1) process.env.CLSA_NCCL_LIBRARY = '/nonexistent/libnccl.so.2';
  const comm = openDistributed('auto', 'options.distributed', { device: 'cuda' });
  out.info = { backend: comm.backend, rank: comm.rank, size: comm.size };
  out.why = ncclUnavailable();
  out.sum = [...await comm.allReduce(Float32Array.of(rank + 1), 'sum')];
}

(mode === 'auto' ? auto() : main())
  .catch((err) => { out.fatal = caught(err); })
  .finally(() => {
    fs.writeFileSync(path.join(dir, `${mode}-rank${rank}.json`), JSON.stringify(out));
  });
