#!/usr/bin/env node
// `npm start`: make the machine ready (preflight), build incrementally, then run the demo mesh with
// `livemesh up --demo`. Extra arguments are passed on: `npm start -- --http-port 9000`.
// Node built-ins only, so it works on a fresh clone before `npm install`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'apps', 'cli', 'dist', 'main.js');

step('preflight', [join(ROOT, 'scripts', 'preflight.mjs')]);
// tsc -b compares its .tsbuildinfo files with the sources, so an up-to-date tree costs about a
// second; deciding "is a build needed" ourselves would only duplicate that logic, less well.
step('build', [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json']);

// The console's bundle (Vite), rebuilt only when a file of apps/orchestrator/web is newer than it.
const WEB = join(ROOT, 'apps', 'orchestrator', 'web');
const BUILT = join(ROOT, 'apps', 'orchestrator', 'dist', 'web', 'index.html');
if (!existsSync(BUILT) || newestMtime(WEB) > statSync(BUILT).mtimeMs) {
  step('console build', [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(WEB, 'vite.config.mjs')]);
}

if (!existsSync(CLI)) {
  console.error(`start: ${CLI} was not built; is apps/cli part of tsconfig.build.json?`);
  process.exit(1);
}

const child = spawn(process.execPath, [CLI, 'up', '--demo', ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });

// Ctrl-C in a terminal reaches the whole foreground process group, and npm forwards it as well, so
// the same key press can arrive here more than once within a few milliseconds. Pass each signal on
// once per burst, so that `livemesh up` can tell "shut down" from a deliberate second "force it".
// SIGHUP (the terminal closed) is passed on too: `livemesh up` then stops the mesh as on Ctrl-C.
let lastSignal = { name: '', at: 0 };
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    const now = Date.now();
    if (lastSignal.name === sig && now - lastSignal.at < 300) return;
    lastSignal = { name: sig, at: now };
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}

child.on('error', (err) => {
  console.error(`start: could not run ${CLI}: ${err.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
});

function step(what, args) {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.error) {
    console.error(`start: ${what} could not run: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`start: ${what} failed${r.signal ? ` (${r.signal})` : ''}; see above.`);
    process.exit(r.status ?? 1);
  }
}

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}
