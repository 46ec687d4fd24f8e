#!/usr/bin/env node
// Prints the Markdown table of bench/results/README.md from a saved result file:
//   node bench/table.js bench/results/cpu-<date>.json
'use strict';
const fs = require('fs');
const o = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const f = (x, d = 1) => (typeof x === 'number' ? x.toFixed(d) : '-');
const lines = [];
const id = o.cpuId ? `, ${o.cpuId.vendor} family ${o.cpuId.family} model ${o.cpuId.model}` : '';
lines.push(`Measured ${o.date} on ${o.cpu}${id} (${o.logicalCpus} logical CPUs), ${o.threads} threads, kernel \`${o.kernel}\`, Node ${o.node}.`);
lines.push(`Load average (1/5/15 min) at start ${o.loadAvgStart.join(' / ')}, at end ${o.loadAvgEnd.join(' / ')}; medians of ${o.reps} runs (numpy/unfused: fewer).`);
lines.push('');
lines.push('| head, N=256 D=128 K=16384 | fused ms | fused GFLOP/s | % of numpy sgemm | unfused C++ ms | numpy ms | fused vs unfused | fused vs numpy |');
lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const h of o.heads) {
  const np = h.numpy && !h.numpy.error ? h.numpy : null;
  lines.push(`| ${h.name} (W=${h.w}, S=${h.s}) | ${f(h.fused.ms)} | ${f(h.fused.gflops)} | ${h.fused.fractionOfSgemm ? f(100 * h.fused.fractionOfSgemm, 0) + '%' : '-'} | ${f(h.unfused.ms)} | ${np ? f(np.ms) : '-'} | ${f(h.speedupVsUnfused, 2)}x | ${np ? f(h.speedupVsNumpy, 2) + 'x' : '-'} |`);
}
lines.push('');
lines.push('CPU time per call (user + system, all threads of the process; less sensitive to other load than wall time):');
lines.push('');
lines.push('| head | fused CPU ms | unfused CPU ms | numpy CPU ms | numpy / fused |');
lines.push('|---|---:|---:|---:|---:|');
for (const h of o.heads) {
  const np = h.numpy && !h.numpy.error ? h.numpy : null;
  lines.push(`| ${h.name} | ${f(h.fused.cpuMs)} | ${f(h.unfused.cpuMs)} | ${np ? f(np.cpuMs) : '-'} | ${np ? f(h.cpuTimeRatioVsNumpy, 2) + 'x' : '-'} |`);
}
lines.push('');
const np0 = o.heads.find((h) => h.numpy && !h.numpy.error);
if (np0) lines.push(`numpy ${np0.numpy.numpy} with ${np0.numpy.blas} ${np0.numpy.blasVersion}, OpenBLAS core ${np0.numpy.blasCore}, ${np0.numpy.blasThreads} threads (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for it); numpy sgemm 2048^3 in the same run: ${f(o.numpySgemm.gflops)} GFLOP/s.`);
lines.push(`GFLOP/s count 2 GEMMs of M x D x (N+K) per temperature pass, M = (W+S)N, for every implementation alike.`);
lines.push('');
lines.push('| other | result |');
lines.push('|---|---|');
lines.push(`| EMA, ${(o.ema.params / 1e6).toFixed(1)} M params | ${f(o.ema.ema.ms, 2)} ms, ${f(o.ema.ema.gbs)} GB/s (12 B/param) = ${f(100 * o.ema.ratio, 0)}% of memcpy |`);
lines.push(`| memcpy, same bytes (${o.ema.memcpy.kind}) | ${f(o.ema.memcpy.ms, 2)} ms, ${f(o.ema.memcpy.gbs)} GB/s (read + write); libc ${f(o.ema.memcpyLibc.gbs)}, loop ${f(o.ema.memcpyLoop.gbs)} GB/s |`);
lines.push(`| enqueue N=${o.enqueue.n} keys into K=${o.enqueue.k} (normalising) | ${f(o.enqueue.us)} us |`);
if (o.memory && o.memory.growthMB !== undefined)
  lines.push(`| peak RSS growth, one fused call K=${o.memory.k} W=${o.memory.w} S=${o.memory.s} (fresh process) | ${f(o.memory.growthMB)} MB (${f(o.memory.ms)} ms) |`);
console.log(lines.join('\n'));
