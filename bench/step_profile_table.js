#!/usr/bin/env node
// Markdown tables of step_profile runs (bench/native/step_profile.cpp): a step's single-thread CPU
// time by phase, by layer, and each convolution alone against the GEMM core's rate. With two runs
// of the same configuration (before, after) the tables put them side by side.
//
//   node bench/step_profile_table.js <profile.json> [<after.json>]
'use strict';
const fs = require('fs');

const runs = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
if (!runs.length) {
  console.error('usage: node bench/step_profile_table.js <profile.json> [<after.json>]');
  process.exit(2);
}

// Which part of the step a layer label belongs to.
// (A fused "conv+bn" layer counts as conv forward, its BN passes included.)
const PHASES = [
  ['conv forward', /^conv(\+bn)?(\+relu)? fwd/],
  ['conv backward (dW + dX)', /^conv bwd/],
  ['BN forward (+ReLU)', /^bn(\+relu)? fwd/],
  ['BN backward (+ReLU mask)', /^bn(\+relu)? bwd/],
  ['ReLU, residual add (fwd + bwd)', /^(relu|add)/],
  ['pool + projection MLP', /^(gap|linear)/],
  ['SGD', /^sgd/],
  ['head + EMA + enqueue + glue', /^\(head|^(gather|scatter|copy|zero)/],
];
const phaseOf = (what) => (PHASES.find(([, re]) => re.test(what)) || ['other'])[0];
const ms = (x) => (x === undefined ? '–' : x.toFixed(2));
const cols = (xs) => `| ${xs.join(' | ')} |`;
const head = runs.length > 1 ? ['before ms', 'after ms', 'after / before'] : ['ms', 'share'];

function row(label, values, total) {
  const ratio = values[0] && values[1] !== undefined ? (values[1] / values[0]).toFixed(2) : '–';
  if (runs.length > 1) return cols([label, ms(values[0]), ms(values[1]), ratio]);
  return cols([label, ms(values[0]), `${((100 * values[0]) / total).toFixed(1)}%`]);
}

const r0 = runs[0];
console.log(`Width ${r0.width}, batch ${r0.batch}, views ${r0.views.join('/')}, ${r0.precision}, GEMM variant ${r0.gemm}: ` +
  `one step with the pool at 1 thread, CPU time of that thread, medians of ${r0.steps} steps` +
  (runs.length > 1 ? ' per run' : '') + ' (single-thread CPU time, not wall time).\n');

const byPhase = runs.map((r) => {
  const p = {};
  for (const l of r.layers) p[phaseOf(l.what)] = (p[phaseOf(l.what)] || 0) + l.ms;
  return p;
});
console.log(cols(['phase', ...head]));
console.log(cols(['---', ...head.map(() => '---:')]));
for (const [name] of [...PHASES, ['other']]) {
  const v = byPhase.map((p) => p[name] || 0);
  if (v.some((x) => x > 0)) console.log(row(name, v, r0.stepMs));
}
if (runs.some((r) => r.layers.some((l) => /^conv\+bn/.test(l.what)))) {
  // A fused conv+BN layer has no BN forward of its own: compare the two together.
  const both = byPhase.map((p) => (p['conv forward'] || 0) + (p['BN forward (+ReLU)'] || 0));
  console.log(row('conv + BN forward together', both, r0.stepMs));
}
console.log(row('**step**', runs.map((r) => r.stepMs), r0.stepMs));

// Convolution work of the step: multiply-adds of every conv call (dX counted where it is computed)
// over the step's conv time, against the GEMM core's rate on one thread.
function convMacs(label) {
  const m = /(\d+)->(\d+) k(\d+) s(\d+) (\d+)x(\d+)/.exec(label);
  const [cin, cout, k, s, h, w] = m.slice(1).map(Number);
  const out = (x) => Math.floor((x + 2 * Math.floor(k / 2) - k) / s) + 1;
  return cin * cout * k * k * out(h) * out(w);
}
const convRate = runs.map((r) => {
  let flop = 0, t = 0;
  for (const l of r.layers) {
    if (!/^conv/.test(l.what)) continue;
    const products = / fwd /.test(l.what) || /dW only/.test(l.what) ? 1 : 2;
    flop += 2 * r.batch * convMacs(l.what) * products * l.callsPerStep;
    t += l.ms;
  }
  return { gflops: flop / t / 1e6, share: flop / t / 1e6 / r.gemm1024Gflops };
});
if (runs.every((r) => r.gemm1024Gflops)) {
  console.log(`\nConvolution work in the step: ${convRate.map((c) => `${c.gflops.toFixed(0)} GFLOP/s = ` +
    `${(100 * c.share).toFixed(0)}%`).join(' -> ')} of the GEMM core's 1024^3 rate on one thread ` +
    `(${runs.map((r) => r.gemm1024Gflops.toFixed(0)).join(' / ')} GFLOP/s, same run)` +
    (runs.some((r) => r.layers.some((l) => /^conv\+bn/.test(l.what))) ? '; a fused conv+BN layer counts its BN passes as conv time.' : '.'));
}

console.log('\nBy layer (calls per step; the forward runs 3 times per step: keys, and 2 query views; the backward twice):\n');
console.log(cols(['layer', 'calls', ...head]));
console.log(cols(['---', '---:', ...head.map(() => '---:')]));
const labels = [...new Set(runs.flatMap((r) => r.layers.map((l) => l.what)))];
const find = (r, what) => r.layers.find((l) => l.what === what);
labels.sort((a, b) => ((find(r0, b) || {}).ms || 0) - ((find(r0, a) || {}).ms || 0));
for (const what of labels) {
  const v = runs.map((r) => (find(r, what) || {}).ms);
  if (Math.max(...v.map((x) => x || 0)) < 0.25) continue;
  const calls = (find(r0, what) || find(runs[runs.length - 1], what)).callsPerStep || '';
  console.log(row(what, v, r0.stepMs).replace(/^\| ([^|]*) \|/, `| $1 | ${calls} |`));
}

if (runs.every((r) => r.convs)) {
  console.log(`\nEach convolution alone (batch ${r0.batch}, medians of ${r0.reps} calls; dX = full backward - dW-only ` +
    `backward; GFLOP/s against the same GEMM core's 1024^3 rate on one thread, ${runs.map((r) => r.gemm1024Gflops).join(' / ')}):\n`);
  const parts = ['fwd', 'dw', 'dx'];
  const h = runs.length > 1
    ? parts.flatMap((p) => [`${p} ms before`, `${p} ms after`, `${p} GFLOP/s after`])
    : parts.flatMap((p) => [`${p} ms`, `${p} GFLOP/s`, `${p} % of GEMM`]);
  console.log(cols(['conv', ...h]));
  console.log(cols(['---', ...h.map(() => '---:')]));
  for (const c of r0.convs) {
    const cs = runs.map((r) => r.convs.find((x) => x.conv === c.conv));
    const cells = parts.flatMap((p) => {
      // (0 GFLOP/s: the stem's dX, which the model never computes)
      if (!cs[cs.length - 1][`${p}Gflops`]) return ['–', '–', '–'];
      if (runs.length > 1) return [ms(cs[0][`${p}Ms`]), ms(cs[1][`${p}Ms`]), cs[1][`${p}Gflops`].toFixed(0)];
      return [ms(c[`${p}Ms`]), c[`${p}Gflops`].toFixed(0), `${((100 * c[`${p}Gflops`]) / r0.gemm1024Gflops).toFixed(0)}%`];
    });
    console.log(cols([c.conv, ...cells]));
  }
}
