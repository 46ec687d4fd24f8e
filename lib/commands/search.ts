// `clsa search`: the images of an index most similar to query images (cosine similarity of the
// encoder's features, fused top-k kernel). The index is a data set embedded on the spot, or a
// directory saved by an earlier run with --save-index.
import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';
import { hasIdx, loadImageFiles } from '../data';
import { loadEncoder } from '../encoder';
import { writeFileAtomic } from '../fsutil';
import { SearchIndex, SearchResult } from '../search';
import { CliError, intOption, progress } from './common';

interface SearchCliOptions {
  model: string; index: string; query: string; k: number; json?: boolean; out?: string; saveIndex?: string;
  indexSplit: string; querySplit?: string; quiet?: boolean;
}

/** A query source with a test split of its own is queried with it (Fashion-MNIST's test images
 * against its train index); any other folder is queried whole. */
function defaultQuerySplit(query: string): 'train' | 'test' {
  if (query === 'fashion-mnist' || query.startsWith('fashion-mnist:')) return 'test';
  if (fs.existsSync(query) && fs.statSync(query).isDirectory()) {
    if (hasIdx(query, 'test')) return 'test';
    if (fs.existsSync(path.join(query, 'train')) && ['test', 'val'].some((s) => fs.existsSync(path.join(query, s)))) return 'test';
  }
  return 'train';
}

function checkSplit(name: string, v: string): 'train' | 'test' {
  if (v !== 'train' && v !== 'test') throw new CliError(`${name}: expected train or test but got "${v}"`);
  return v;
}

function formatResults(results: SearchResult[], indexSource: string): string {
  const row = (r: { file?: string; class?: string; label?: number }) =>
    [r.class ?? (r.label !== undefined ? `label ${r.label}` : undefined), r.file].filter((x) => x !== undefined).join('  ');
  const lines: string[] = [];
  for (const r of results) {
    const about = row(r);
    lines.push(`query #${r.query}${about ? `  ${about}` : ''}  (nearest in ${indexSource})`);
    r.neighbours.forEach((h, i) => {
      const a = row(h);
      lines.push(`  ${String(i + 1).padStart(3)}. ${h.similarity.toFixed(4)}  #${h.index}${a ? `  ${a}` : ''}`);
    });
  }
  return lines.join('\n') + '\n';
}

export function registerSearch(program: Command): void {
  program.command('search')
    .description('find the images of an index most similar to query images (cosine similarity of the encoder\'s features)')
    .requiredOption('--model <dir>', 'model directory (OUT/model of clsa train)')
    .requiredOption('--index <source>', "the images searched: a data set ('fashion-mnist', IDX or image folder) or a directory saved with --save-index")
    .requiredOption('--query <image|folder>', 'an image file, or a folder / data set of query images')
    .option('-k, --k <n>', 'neighbours per query', intOption('--k', 1, 1 << 20), 8)
    .option('--index-split <split>', 'split of the index data set', 'train')
    .option('--query-split <split>', 'split of the query data set (default: its test split where it has one, else all of it)')
    .option('--save-index <dir>', 'save the index built from --index here, to reload with --index DIR')
    .option('--json', 'print the results as JSON')
    .option('--out <file>', 'write the results as JSON to this file instead')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: SearchCliOptions) => {
      const indexSplit = checkSplit('--index-split', opts.indexSplit);
      const querySplit = checkSplit('--query-split', opts.querySplit ?? defaultQuerySplit(opts.query));
      if (!fs.existsSync(opts.query) && !opts.query.startsWith('fashion-mnist')) throw new CliError(`--query: ${opts.query} does not exist`);
      const saved = SearchIndex.isIndexDir(opts.index);
      if (saved && opts.saveIndex) throw new CliError(`--save-index: --index ${opts.index} is already a saved index`);
      const p = progress(saved ? 3 : 4, opts.quiet || opts.json);
      p.step(`loading the encoder in ${opts.model}`);
      const encoder = loadEncoder(opts.model);
      try {
        p.step(saved ? `loading the index in ${opts.index}` : `embedding the index ${opts.index}`);
        const index = saved ? SearchIndex.load(opts.index) : await SearchIndex.build(encoder, opts.index, { split: indexSplit });
        if (opts.saveIndex) await index.save(opts.saveIndex);
        if (opts.k > index.size) throw new CliError(`--k: expected at most the index's ${index.size} images but got ${opts.k}`);
        p.step(`searching the ${opts.k} nearest of ${index.size} images`);
        const queries = fs.existsSync(opts.query) && fs.statSync(opts.query).isFile()
          ? await loadImageFiles([opts.query], { size: encoder.imageSize[0], channels: encoder.normalization.channels as 1 | 3 })
          : opts.query;
        const results = await index.search(encoder, queries, opts.k, { split: querySplit });
        p.stop();
        const json = JSON.stringify({ index: { source: index.source, size: index.size, saved: saved ? opts.index : opts.saveIndex ?? null },
          query: opts.query, k: opts.k, results }, null, opts.out ? 2 : undefined);
        if (opts.out) await writeFileAtomic(opts.out, json + '\n');
        else if (opts.json) process.stdout.write(json + '\n');
        else process.stdout.write(formatResults(results, index.source));
      } finally {
        encoder.dispose();
      }
    });
}
