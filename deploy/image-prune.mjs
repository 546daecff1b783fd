// Runs in the first stage of every livemesh Dockerfile (the base image has node and no shell):
// removes what Node never loads at run time, so the final stage copies a smaller /app.
// Usage: node image-prune.mjs <app dir>
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: node image-prune.mjs <app dir>\n');
  process.exit(2);
}
const dropFile = /(\.map|\.d\.[cm]?ts|\.tsbuildinfo|\.md|\.markdown|^Dockerfile|^LICENSE\.txt~)$/i;
let removed = 0;

async function prune(dir) {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) await prune(p);
    else if (d.isFile() && dropFile.test(d.name)) {
      await rm(p);
      removed++;
    }
  }
}

await prune(root);
// The build recipe itself is no run-time file.
await rm(join(root, 'deploy'), { recursive: true, force: true });
process.stdout.write(`image-prune: removed ${removed} files from ${root}\n`);
