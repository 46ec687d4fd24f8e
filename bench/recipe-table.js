#!/usr/bin/env node
// The recipe study as a Markdown table: one row per configuration of bench/recipe.js, its seeds
// (runs named NAME-s0, NAME-s1, ...) averaged, best validation kNN first. Columns: the options, the
// validation kNN on standardised features (the form the scorecard uses; bank statistics) and on raw
// ones, each as the mean and the per-seed values, the best pixel baseline on the same bank, the
// margin, the test kNN (reported, never used to choose), the training images and bank, wall time
// with the load beside it, and the command that reproduces the first seed. Runs recorded before the
// runner scored every form show '–' for their standardised value; a mean is over the seeds that have it.
//
//   node bench/recipe-table.js bench/results/recipe-screen-2026-12-05.jsonl [> table.md]
'use strict';
const fs = require('fs');
const path = require('path');

const file = process.argv[2];
if (!file) { process.stderr.write('usage: node bench/recipe-table.js RESULTS.jsonl\n'); process.exit(2); }
const rows = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
// Rows written before the runner recorded its plan: find the plan that names the run.
const plans = fs.readdirSync(path.join(__dirname, 'recipe')).filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: `bench/recipe/${f}`, names: JSON.parse(fs.readFileSync(path.join(__dirname, 'recipe', f), 'utf8')).map((e) => e.name) }));
const planOf = (r) => r.plan ?? plans.find((p) => p.names.includes(r.name))?.file ?? '?';
const pct = (x) => (x === undefined ? '–' : (x * 100).toFixed(2));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
// Crops as "key 28@0.2-1, weak 28@0.2-1, strong 12@0.09-0.43+RA5": size@area range, +RA<n> for RandAugment.
const view = (v) => `${v.size}@${v.scale ? v.scale.map((x) => +x.toFixed(2)).join('-') : '0.2-1'}` +
  `${v.randAugment ? `+RA${v.randAugment.n ?? 5}${v.randAugment.magnitude ? `m${v.randAugment.magnitude.join('-')}` : ''}${v.randAugment.fill === 0 ? 'f0' : ''}` : ''}`;
const crops = (c) => (typeof c === 'string' ? c : `key ${view(c.key)}, weak ${c.weak.map(view).join('/')}, strong ${(c.strong ?? []).map(view).join('/') || 'none'}`);
const opts = (o) => Object.entries(o).filter(([k]) => k !== 'seed')
  .map(([k, v]) => `${k}=${k === 'crops' ? `{${crops(v)}}` : typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');

const groups = new Map();
for (const r of rows) {
  const name = r.name.replace(/-s\d+$/, '');
  if (!groups.has(name)) groups.set(name, []);
  groups.get(name).push(r);
}
const std = (r) => r.validationKnnForms?.standardised;
const summary = [...groups.entries()].map(([name, rs]) => {
  const stds = rs.map(std).filter((x) => x !== undefined);
  return {
    name, rs, valStd: stds.length ? mean(stds) : undefined, valRaw: mean(rs.map((r) => r.validationKnn)),
    testStd: stds.length ? mean(rs.filter((r) => r.testKnnForms).map((r) => r.testKnnForms.standardised)) : undefined,
    testRaw: mean(rs.map((r) => r.testKnn)),
  };
});
const key = (s) => s.valStd ?? s.valRaw - 1;  // raw-only rows rank below measured ones of equal raw accuracy
const out = ['| run | options | seeds | val kNN, standardised (per seed) | val kNN, raw (per seed) | best pixels, val | margin | test kNN, std. / raw | train / bank | wall s (load) | command |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|'];
for (const s of summary.sort((a, b) => key(b) - key(a))) {
  const r0 = s.rs[0];
  const per = (f) => s.rs.map(f).map(pct).join(' / ');
  const best = r0.bestPixelValidationKnn;
  out.push(`| ${s.name} | ${opts(r0.options).replace(/\|/g, '\\|')} | ${s.rs.map((r) => r.options.seed ?? 0).join(',')} | ` +
    `${s.valStd === undefined ? '–' : `**${pct(s.valStd)}** (${per(std)})`} | ${pct(s.valRaw)} (${per((r) => r.validationKnn)}) | ` +
    `${pct(best)} (${r0.bestPixel}) | ${(((s.valStd ?? s.valRaw) - best) * 100).toFixed(2)} | ${pct(s.testStd)} / ${pct(s.testRaw)} | ` +
    `${r0.trainImages} / ${r0.bankImages ?? r0.trainImages} | ${mean(s.rs.map((r) => r.seconds)).toFixed(0)} (${mean(s.rs.map((r) => r.load)).toFixed(1)}) | ` +
    `\`node bench/recipe.js --plan ${planOf(r0)} --only ${r0.name}\` |`);
}
process.stdout.write(out.join('\n') + '\n');
