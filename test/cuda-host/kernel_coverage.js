#!/usr/bin/env node
// Lists every __global__ function in native/src/cuda and checks that each was launched at least
// once by the emulated checks. The checks append one line per launched kernel instantiation to
// the file named by CLSA_EMU_LAUNCH_LOG: "<offset in the executable>\t<launch expression>\t<exe>";
// nm names the offset (a launch through a function pointer, as bn.cu's, shows only "kernel" at
// the call site), and the kernel's base name is matched against the source list. Every template
// instantiation of a kernel compiled into the check programs must have been launched as well.
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

// Demangled names (anonymous namespaces dropped) by offset, per executable.
const tables = new Map();
function symbols(exe) {
  if (!tables.has(exe)) {
    const table = new Map();
    const out = execFileSync('nm', ['-C', '--defined-only', exe], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const l of out.split('\n')) {
      const m = /^([0-9a-f]+) [tTwW] (.*)$/.exec(l);
      if (m) table.set(BigInt('0x' + m[1]), m[2].replace(/\(anonymous namespace\)::/g, ''));
    }
    tables.set(exe, table);
  }
  return tables.get(exe);
}

// "void clsa::cuda::nn::bn_train_kernel<true, false>(...)" -> "bn_train_kernel"
const baseName = (sym) => sym.replace(/\(.*$/s, '').replace(/<.*$/s, '').split('::').pop().trim();

// The kernel instantiations launched (full names) and the executables that launched them.
function launched(logFile) {
  const full = new Set(), exes = new Set();
  const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
  for (const line of lines) {
    const [off, expr, exe] = line.split('\t');
    exes.add(exe);
    full.add(symbols(exe).get(BigInt('0x' + off)) || expr);
  }
  return { full, exes };
}

// Every instantiation of a __global__ compiled into those executables (the CPU back end has
// functions of the same names in clsa::cpu).
function compiled(exes, globals) {
  const all = new Set();
  for (const exe of exes)
    for (const sym of symbols(exe).values()) if (!sym.includes('::cpu::') && globals.has(baseName(sym))) all.add(sym);
  return all;
}

if (require.main === module) {
  const log = process.argv[2];
  const globals = globalsInSources();
  const all = [...globals].sort();
  const { full, exes } = launched(log);
  const seen = new Set([...full].map(baseName));
  const missing = all.filter((n) => !seen.has(n));
  console.log(`__global__ functions in native/src/cuda: ${all.length}`);
  for (const n of all) console.log(`  ${seen.has(n) ? 'launched ' : 'MISSING  '} ${n}`);
  // Template instantiations too: each one the checks' executables contain must have run.
  const inst = [...compiled(exes, globals)].sort();
  const notRun = inst.filter((s) => !full.has(s));
  console.log(`kernel instantiations in the check programs: ${inst.length}, launched: ${inst.length - notRun.length}`);
  for (const s of notRun) console.log(`  NOT LAUNCHED ${s}`);
  if (missing.length || notRun.length) {
    if (missing.length) console.log(`not launched by the emulated checks: ${missing.join(', ')}`);
    process.exit(1);
  }
}

module.exports = { globalsInSources, launched, compiled };
