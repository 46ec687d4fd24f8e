// One rank of test/distributed.test.ts, started by mpirun: `node distributed-rank.js DIR`.
// Runs the collectives and writes DIR/collectives-rank<r>.json for the test to check.
'use strict';
const fs = require('fs');
const path = require('path');
const { openDistributed } = require('../../dist');

const dir = process.argv[2];

// The collectives alone, on values that say which rank sent them.
async function collectives(comm) {
  const { rank } = comm;
  const mine = Float32Array.from([rank + 1, 10 * (rank + 1), 0.5]);
  const bcast = Float32Array.from([rank + 100, rank + 200]);
  await comm.broadcast(bcast, 1);
  await comm.barrier();
  const out = {
    rank, size: comm.size, localRank: comm.localRank, localSize: comm.localSize, library: comm.library, version: comm.version,
    sum: Array.from(await comm.allReduce(mine, 'sum')), mean: Array.from(await comm.allReduce(mine, 'mean')),
    gather: Array.from(await comm.allGather(mine)), broadcast: Array.from(bcast), mineAfter: Array.from(mine),
  };
  fs.writeFileSync(path.join(dir, `collectives-rank${rank}.json`), JSON.stringify(out));
}

(async () => {
  const comm = openDistributed('mpi');
  await collectives(comm);
})().catch((err) => {
  process.stderr.write(`rank failed: ${err.stack}\n`);
  process.exitCode = 1;
});
