#!/usr/bin/env node
// The recipe study as a Markdown table: one row per run of bench/recipe.js (configuration,
// validation kNN, test kNN, best pixel baseline on the same validation bank, wall time, load, and
// the command that reproduces the row), best validation first.
//
//   node bench/recipe-table.js bench/results/recipe-screen-2026-12-02.jsonl [> table.md]
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
const pct = (x) => (x * 100).toFixed(2);
// Crops as "key 28@0.2-1, weak 28@0.2-1, strong 12@0.09-0.43+RA": size@area range, +RA for RandAugment.
const view = (v) => `${v.size}@${v.scale ? v.scale.map((x) => +x.toFixed(2)).join('-') : '0.2-1'}${v.randAugment ? '+RA' : ''}`;
const crops = (c) => (typeof c === 'string' ? c : `key ${view(c.key)}, weak ${c.weak.map(view).join('/')}, strong ${(c.strong ?? []).map(view).join('/') || 'none'}`);
const opts = (o) => Object.entries(o).map(([k, v]) => `${k}=${k === 'crops' ? `{${crops(v)}}` : typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
const out = ['| run | options | val kNN | best pixels, val | margin | test kNN | train images | wall s (load) | command |',
  '|---|---|---:|---:|---:|---:|---:|---:|---|'];
for (const r of [...rows].sort((a, b) => b.validationKnn - a.validationKnn)) {
  out.push(`| ${r.name} | ${opts(r.options).replace(/\|/g, '\\|')} | ${pct(r.validationKnn)} | ${pct(r.bestPixelValidationKnn)} (${r.bestPixel}) | ` +
    `${((r.validationKnn - r.bestPixelValidationKnn) * 100).toFixed(2)} | ${pct(r.testKnn)} | ${r.trainImages} | ${r.seconds.toFixed(0)} (${r.load.toFixed(1)}) | ` +
    `\`node bench/recipe.js --plan ${planOf(r)} --only ${r.name}\` |`);
}
process.stdout.write(out.join('\n') + '\n');
