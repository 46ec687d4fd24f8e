#!/usr/bin/env node
// Lists every __global__ function in native/src/cuda and checks that each was launched at least
// once by the emulated checks. The checks append one line per launched kernel instantiation to
// the file named by CLSA_EMU_LAUNCH_LOG: "<offset in the executable>\t<launch expression>\t<exe>";
// nm names the offset (a launch through a function pointer, as bn.cu's, shows only "kernel" at
// the call site), and the kernel's base name is matched against the source list.
// Usage: node kernel_coverage.js <launch log>   (exit 1 when a kernel was never launched)
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..', '..');

function globalsInSources() {
  const names = new Set();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cu|cuh)$/.test(e.name)) {
        // Strip comments, then take the identifier before the parameter list of each __global__.
        const text = fs.readFileSync(p, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
        const re = /__global__[^;{(]*?\b([A-Za-z_]\w*)\s*\(/g;
        let m;
        while ((m = re.exec(text))) {
          if (m[1] === '__launch_bounds__') {
            // __global__ __launch_bounds__(...) void name(
            const rest = text.slice(m.index + m[0].length);
            const after = rest.replace(/^[^)]*\)\s*/, '');
            const n = /^(?:void\s+)?([A-Za-z_]\w*)\s*\(/.exec(after.replace(/^void\s+/, 'void '));
            if (n) names.add(n[1]);
          } else {
            names.add(m[1]);
          }
        }
      }
    }
  };
  walk(path.join(root, 'native', 'src', 'cuda'));
  return names;
}

function launched(logFile) {
  const names = new Set();
  const symbols = new Map();  // exe -> Map(offset -> demangled name)
  const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of lines) {
    const [off, expr, exe] = line.split('\t');
    if (!symbols.has(exe)) {
      const table = new Map();
      const out = execFileSync('nm', ['-C', '--defined-only', exe], { encoding: 'utf8', maxBuffer: 256 << 20 });
      for (const l of out.split('\n')) {
        const m = /^([0-9a-f]+) [tTwW] (.*)$/.exec(l);
        if (m) table.set(BigInt('0x' + m[1]), m[2]);
      }
      symbols.set(exe, table);
    }
    const sym = symbols.get(exe).get(BigInt('0x' + off));
    // "void clsa::cuda::nn::(anonymous namespace)::bn_train_kernel<true, false>(...)": the last
    // identifier before the template arguments / parameter list.
    const full = (sym || expr).replace(/\(anonymous namespace\)::/g, '');
    const head = full.replace(/\(.*$/s, '').replace(/<.*$/s, '');
    const base = head.split('::').pop().trim();
    names.add(base);
  }
  return names;
}

if (require.main === module) {
  const log = process.argv[2];
  const all = [...globalsInSources()].sort();
  const seen = launched(log);
  const missing = all.filter((n) => !seen.has(n));
  console.log(`__global__ functions in native/src/cuda: ${all.length}`);
  for (const n of all) console.log(`  ${seen.has(n) ? 'launched ' : 'MISSING  '} ${n}`);
  if (missing.length) {
    console.log(`not launched by the emulated checks: ${missing.join(', ')}`);
    process.exit(1);
  }
}

module.exports = { globalsInSources, launched };
