#!/usr/bin/env node
// Builds the warm media engine (libs/media/engine/lm_engine.c) into libs/media/engine/build/lm-engine
// with the system's FFmpeg libraries. Part of `npm run build`, so it must be quick when nothing
// changed: it does nothing when the binary is newer than the source. Node built-ins only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'libs/media/engine/lm_engine.c');
const OUT = join(ROOT, 'libs/media/engine/build/lm-engine');
const LIBS = ['libavformat', 'libavcodec', 'libavfilter', 'libavutil', 'libswscale'];
// What Debian calls the packages this needs; printed when they are missing.
const DEBIAN_PACKAGES = 'gcc pkg-config libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswscale-dev';

function fail(message) {
  console.error(`build-engine: ${message}`);
  process.exit(1);
}

if (existsSync(OUT) && statSync(OUT).mtimeMs > statSync(SOURCE).mtimeMs) process.exit(0);

const flags = spawnSync('pkg-config', ['--cflags', '--libs', ...LIBS], { encoding: 'utf8' });
if (flags.error || flags.status !== 0) {
  fail(`pkg-config cannot find the FFmpeg development files; install them with: apt-get install -y ${DEBIAN_PACKAGES}`);
}

mkdirSync(dirname(OUT), { recursive: true });
// Compile to a temporary name and rename, so a failed or interrupted build never leaves a binary
// that looks newer than its source.
const tmp = `${OUT}.tmp-${process.pid}`;
const args = ['-O2', '-Wall', '-o', tmp, SOURCE, ...flags.stdout.trim().split(/\s+/).filter(Boolean)];
const gcc = spawnSync('gcc', args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (gcc.error) fail(`cannot run gcc (${gcc.error.message}); install it with: apt-get install -y ${DEBIAN_PACKAGES}`);
if (gcc.status !== 0) fail(`gcc failed compiling ${SOURCE} (exit ${gcc.status})`);
renameSync(tmp, OUT);
console.log(`build-engine: built ${OUT}`);
