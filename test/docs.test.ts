// The repository stands alone: what its files cite for the maths, the augmentations and the
// design lives in docs/ and ships with the package, not in a file outside the repository.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean)
  .filter((f) => fs.existsSync(path.join(root, f)) && !/\.(png|gz|node|bin|safetensors)$|^data\//.test(f));
const text = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');

test('no tracked file cites the design notes or the shared folder that live outside the repository', () => {
  // Built from pieces so that this file matches neither itself nor a grep for the same strings.
  const outside = new RegExp(['DESIGN', 'md'].join('\\.') + '|' + ['\\.\\.', 'shared', ''].join('/'));
  const hits = tracked.flatMap((f) => text(f).split('\n').map((l, i) => [f, i + 1, l] as const))
    .filter(([, , l]) => outside.test(l)).map(([f, n, l]) => `${f}:${n}: ${l.trim()}`);
  expect(hits).toEqual([]);
});

test('every docs/*.md that shipped files cite exists and is in package.json "files"', () => {
  const files = (JSON.parse(text('package.json')) as { files: string[] }).files;
  const shipped = tracked.filter((f) => /^(native\/include\/|lib\/)/.test(f) || f === 'README.md');
  const cited = new Map<string, string>();
  for (const f of shipped) for (const m of text(f).matchAll(/docs\/[\w.-]+\.md/g)) if (!cited.has(m[0])) cited.set(m[0], f);
  // The headers and the facade point at the objective and the augmentations: both must be found.
  expect([...cited.keys()]).toEqual(expect.arrayContaining(['docs/objective.md', 'docs/augmentations.md']));
  const problems = [...cited].flatMap(([doc, by]) => [
    ...(fs.existsSync(path.join(root, doc)) ? [] : [`${doc} (cited by ${by}) does not exist`]),
    ...(files.includes(doc) || files.includes('docs/') ? [] : [`${doc} (cited by ${by}) is not in package.json "files"`]),
  ]);
  expect(problems).toEqual([]);
});
