#!/usr/bin/env node
// Final short summary of the GPU check (the tool reply shows only the last ~12k characters):
// parity counts + failures, our timings vs targets, torch ratios, sanitizer verdicts.
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2] || process.env.OUT || '/tmp/clsa-gpu-out';
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(out, f), 'utf8')); } catch { return null; } };
const r = read('results.json');
const t = read('torch.json');
const lines = [];
const p = (s = '') => lines.push(s);

p('================ clsa GPU check: summary ================');
if (!r) p('no results.json (the node stage did not run or crashed)');
else if (r.skipped) p(`node stage skipped: ${r.skipped}`);
else {
  if (/DRY RUN/.test(r.backend?.cudaMessage || '')) p('*** DRY RUN: host-memory stand-ins, every number below is fake ***');
  const d = (r.backend?.devices || [])[0];
  if (d) p(`GPU: ${d.name} sm_${d.computeCapability.replace('.', '')} ${d.multiprocessors} SMs; CUDA runtime ${r.backend.cudaRuntimeVersion}, driver ${r.backend.cudaDriverVersion}`);
  const fails = r.parity.filter((x) => !x.pass);
  p(`parity: ${r.parity.length - fails.length}/${r.parity.length} PASS${fails.length ? '  <-- FAILURES:' : ''}`);
  for (const f of fails.slice(0, 25)) {
    const m = Object.entries(f).filter(([k]) => !['kernel', 'shape', 'precision', 'pass', 'note'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'number' ? v.toExponential(1) : v}`).join(' ');
    p(`  FAIL ${f.kernel} ${f.precision} ${f.shape} ${m} ${f.note || ''}`.slice(0, 220));
  }
  const worst = {};
  for (const x of r.parity.filter((y) => y.kernel === 'head' && y.pass && y.loss !== undefined)) {
    const w = worst[x.precision] || (worst[x.precision] = { loss: 0, g: 0 });
    w.loss = Math.max(w.loss, x.loss, x.nce ?? 0);
    w.g = Math.max(w.g, x.gW ?? 0, x.gS ?? 0);
  }
  p('worst passing head errors: ' + Object.entries(worst).map(([k, v]) => `${k} loss ${v.loss.toExponential(1)} grad ${v.g.toExponential(1)}`).join('; '));
  for (const e of r.errors || []) p(`stage error ${e.stage}: ${String(e.message).split('\n')[0].slice(0, 200)}`);
  const targets = { 'head multi bf16': 0.30, 'head multi tf32': 0.6, 'head multi fp32': 2.5, 'head single bf16': 0.08, 'ema 25.6M': 0.10 };
  p('');
  p('ours (CUDA events, median)           ms     TFLOP/s  target  workspace');
  for (const x of r.timing || []) {
    if (x.error) { p(`  ${x.name.padEnd(32)} ERROR ${x.error.slice(0, 120)}`); continue; }
    const tg = targets[x.name];
    const extra = x.gbps ? `${x.gbps.toFixed(0)} GB/s` : x.tflops !== undefined ? x.tflops.toFixed(1).padStart(7) : '';
    p(`  ${x.name.padEnd(32)} ${x.ms.toFixed(4).padStart(8)} ${extra.padStart(10)}  ${tg ? (x.ms <= tg ? 'OK ' : 'MISS') + ' ' + tg : '        '}${x.workspaceMB !== undefined ? `  ${x.workspaceMB.toFixed(1)} MB (free -${x.freeDropMB.toFixed(1)})` : ''}`);
  }
}
p('');
if (!t) p('torch: no torch.json');
else {
  for (const e of t.errors || []) p(`torch error: ${String(e).slice(0, 200)}`);
  if (t.agreement) p('torch agreement: ' + Object.entries(t.agreement).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' '));
  for (const x of t.timing || []) p(`  torch ${x.name.padEnd(22)} ${x.ms !== undefined ? x.ms.toFixed(3).padStart(9) + ' ms  peak +' + x.peak_extra_mb.toFixed(0) + ' MB' : (x.skipped || x.error || '').slice(0, 120)}`);
  if (t.ema) p(`  torch ema: foreach_lerp ${t.ema.foreach_lerp_ms.toFixed(3)} ms, loop ${t.ema.loop_ms.toFixed(3)} ms, flat lerp ${t.ema.flat_lerp_ms.toFixed(3)} ms (${t.ema.params} params)`);
  for (const [k, v] of Object.entries(t.ratios_ours_over_torch || {})) p(`  ours/torch ${k.padEnd(26)} ${v.toFixed(3)}`);
}
p('');
for (const tool of ['memcheck', 'racecheck']) {
  const f = path.join(out, `sanitizer-${tool}.log`);
  if (!fs.existsSync(f)) { p(`${tool}: not run`); continue; }
  const s = fs.readFileSync(f, 'utf8');
  const sum = s.match(/(ERROR SUMMARY|RACECHECK SUMMARY)[^\n]*/g);
  const st = s.match(/^clsa-sanitizer-status: .*$/m);
  p(`${tool}: ${sum ? sum.join('; ') : 'no summary line'}${st ? '  (' + st[0].slice(22) + ')' : ''}`);
}
console.log(lines.join('\n'));
