#!/usr/bin/env node
// Rewrites one CUDA source for the host compiler (the emulated tests only; the shipped build
// compiles the sources as they are):
//   kernel<<<grid, block, smem, stream>>>(args)  ->  ::emu::launcher("kernel", kernel, grid, block, smem, stream)(args)
//   __shared__ T name[A][B];                      ->  T (&name)[A][B] = ::emu::shared_var<T[A][B]>("file:line:name");
//   extern __shared__ T name[];                   ->  T* const name = ::emu::dynamic_shared_as<T>();
// Line numbers are kept (a rewrite spanning lines is padded with the same newlines) and a #line
// directive names the original file, so compiler and sanitizer reports point at the real source.
// Usage: node rewrite.js <in> <out>
'use strict';
const fs = require('fs');
const path = require('path');

function rewrite(src, file) {
  const base = path.basename(file);
  const pad = (text) => '\n'.repeat((text.match(/\n/g) || []).length);
  const lineAt = (offset) => src.slice(0, offset).split('\n').length;

  // Kernel name: an identifier (maybe qualified) with an optional template argument list of one
  // nesting level; the configuration ends at the first ">>>".
  const launch = /([A-Za-z_][\w:]*(?:\s*<(?:[^<>;]|<[^<>;]*>)*>)?)\s*<<<([\s\S]*?)>>>/g;
  let out = src.replace(launch, (m, kernel, cfg) => {
    const name = kernel.replace(/\s+/g, ' ');
    return `::emu::launcher(${JSON.stringify(name)}, ${kernel.replace(/\n/g, ' ')}, ${cfg.replace(/\n/g, ' ')})${pad(m)}`;
  });

  const shared = /(extern\s+)?__shared__\s+(?:__align__\(\s*(\d+)\s*\)\s+)?([A-Za-z_][\w:<>, ]*?)\s+(?:__align__\(\s*\d+\s*\)\s+)?([A-Za-z_]\w*)\s*((?:\[[^\]]*\])*)\s*;/g;
  out = out.replace(shared, (m, ext, align, type, name, dims, offset) => {
    if (ext) {
      if (dims !== '[]') throw new Error(`${file}: extern __shared__ ${name} must be an unsized array`);
      return `${type}* const ${name} = ::emu::dynamic_shared_as<${type}>();${pad(m)}`;
    }
    const site = JSON.stringify(`${base}:${name}`);
    return `${type} (&${name})${dims} = ::emu::shared_var<${type}${dims}>(${site});${pad(m)}`;
  });
  if (/<<<|>>>\s*\(|__shared__/.test(out)) {
    const bad = out.split('\n').findIndex((l) => /<<<|__shared__/.test(l) && !/^\s*\/\//.test(l));
    if (bad >= 0) throw new Error(`${file}:${bad + 1}: a launch or __shared__ declaration the rewriter does not understand`);
  }
  return `#line 1 "${file}"\n${out}`;
}

if (require.main === module) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node rewrite.js <in> <out>');
    process.exit(2);
  }
  const text = rewrite(fs.readFileSync(input, 'utf8'), path.resolve(input));
  fs.mkdirSync(path.dirname(output), { recursive: true });
  // Unchanged output keeps its timestamp, so a rebuild recompiles only what changed.
  if (!fs.existsSync(output) || fs.readFileSync(output, 'utf8') !== text) fs.writeFileSync(output, text);
}

module.exports = { rewrite };
