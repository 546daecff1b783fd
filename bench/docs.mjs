#!/usr/bin/env node
// Copies the latest results (bench/results/latest.json rendered as Markdown) into
// docs/BENCHMARKS.md between its markers. run.mjs does this after a full run; `node bench/docs.mjs`
// re-renders latest.md and the docs from latest.json.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMarkdown } from './report.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const START = '<!-- bench:latest:start (written by bench/run.mjs from bench/results/latest.json; do not edit by hand) -->';
const END = '<!-- bench:latest:end -->';

export async function updateDocs(result) {
  const file = join(ROOT, 'docs', 'BENCHMARKS.md');
  const doc = await readFile(file, 'utf8');
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${file} has no ${START} ... ${END} markers`);
  // The results' own title becomes a subsection of the document.
  const body = renderMarkdown(result).replace(/^# .*\n/, '').replace(/^## /gm, '### ').trim();
  await writeFile(file, `${doc.slice(0, a + START.length)}\n\n${body}\n\n${doc.slice(b)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = JSON.parse(await readFile(join(ROOT, 'bench', 'results', 'latest.json'), 'utf8'));
  // Derived figures are recomputed by the current report code; the measurements are the file's.
  await writeFile(join(ROOT, 'bench', 'results', 'latest.md'), renderMarkdown(result));
  await updateDocs(result);
  console.log('bench/results/latest.md and docs/BENCHMARKS.md rendered from bench/results/latest.json');
}
