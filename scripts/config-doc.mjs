// Rewrites the generated table in docs/configuration.md ("Which process reads what") from
// PROCESS_GROUPS in libs/contracts/src/env.ts. Run after a build: `npm run docs:config`.
// libs/contracts/src/env.spec.ts fails while the page and the code disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { configurationTable } from '@livemesh/contracts';

const page = new URL('../docs/configuration.md', import.meta.url);
const BEGIN = '<!-- generated from PROCESS_GROUPS (libs/contracts/src/env.ts) by `npm run docs:config`; do not edit -->\n';
const END = '\n<!-- end of generated table -->';
const doc = readFileSync(page, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END, start);
if (start < 0 || end < 0) throw new Error('docs/configuration.md has no generated-table markers');
writeFileSync(page, doc.slice(0, start + BEGIN.length) + configurationTable() + doc.slice(end));
console.log('docs/configuration.md: table rewritten');
