#!/usr/bin/env node
// `npm run bench`: builds, then runs every scenario against a real nats-server, real worker
// processes and real ffmpeg, each beside its baseline in the same run, and writes
// bench/results/latest.json (every raw sample, medians, spread, the machine) and latest.md, and
// copies the tables into docs/BENCHMARKS.md. BENCH_QUICK=1 shrinks every scenario (a smoke run),
// BENCH_ONLY=s1,s3 runs a subset; both write bench/results/partial.* instead.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { config, enabled } from './config.mjs';
import { connectBus, ROOT, startNats, WORKER_MAIN, ORCHESTRATOR_MAIN } from './lib/mesh.mjs';
import { makeMedia } from './lib/media.mjs';
import { versionOf } from './lib/proc.mjs';
import { renderMarkdown } from './report.mjs';
import { updateDocs } from './docs.mjs';
import { hopOverhead } from './scenarios/hop-overhead.mjs';
import { vsFfmpeg } from './scenarios/vs-ffmpeg.mjs';
import { density } from './scenarios/density.mjs';
import { scaling } from './scenarios/scaling.mjs';
import { startup } from './scenarios/startup.mjs';
import { memory } from './scenarios/memory.mjs';
import { warm } from './scenarios/warm.mjs';
import { encoderToPlayer } from './scenarios/encoder-to-player.mjs';

const SCENARIOS = [
  ['s1', 'hopOverhead', hopOverhead],
  ['s2', 'vsFfmpeg', vsFfmpeg],
  ['s3', 'density', density],
  ['s4', 'scaling', scaling],
  ['s5', 'startup', startup],
  ['memory', 'memory', memory],
  ['warm', 'warm', warm],
  ['e2p', 'encoderToPlayer', encoderToPlayer],
];

const t0 = performance.now();
const log = (m) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);

for (const f of [WORKER_MAIN, ORCHESTRATOR_MAIN]) {
  try {
    readFileSync(f);
  } catch {
    console.error(`bench: ${f} is missing; run \`npm run build\` (npm run bench does it first)`);
    process.exit(1);
  }
}

function cpuModel() {
  const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1].trim() : cpus()[0]?.model ?? 'unknown';
}

/**
 * Share of all cores busy over `ms`, from /proc/stat: what other work takes from the benchmark.
 * The load average is no use for that: its 1-minute figure still shows work that ended a minute ago.
 */
async function cpuBusy(ms) {
  const sample = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  return Number((1 - (b.idle - a.idle) / Math.max(1, b.total - a.total)).toFixed(3));
}

const machine = {
  cpuModel: cpuModel(),
  cores: cpus().length,
  memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
  freeMemoryGiBAtStart: Number((freemem() / 2 ** 30).toFixed(1)),
  kernel: readFileSync('/proc/version', 'utf8').split(' ').slice(0, 3).join(' '),
  node: process.version,
  ffmpeg: await versionOf('ffmpeg', ['-version']),
  natsServer: await versionOf('nats-server', ['--version']),
  loadavgBefore: loadavg().map((x) => Number(x.toFixed(2))),
  cpuBusyBefore: await cpuBusy(3000),
};

const result = {
  date: new Date().toISOString(),
  command: config.quick ? 'BENCH_QUICK=1 npm run bench' : config.only.length ? `BENCH_ONLY=${config.only.join(',')} npm run bench` : 'npm run bench',
  quick: config.quick,
  machine,
  config,
  scenarios: {},
  errors: {},
};

log(`machine: ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadavgBefore.join(' ')}, ${(machine.cpuBusyBefore * 100).toFixed(0)} % of CPU busy before the run${config.quick ? ' (BENCH_QUICK: small sizes, figures are not meaningful)' : ''}`);
const mediaDir = await mkdtemp(join(tmpdir(), 'livemesh-bench-media-'));
const nats = await startNats();
const bus = await connectBus(nats.url);
try {
  // The encoder-to-player scenario makes its own picture; only the others read the pre-cut media.
  let media;
  if (SCENARIOS.some(([id]) => id !== 'e2p' && enabled(id))) {
    log(`generating ${config.mediaSeconds} s of 1280x720 30 fps H.264 + AAC and cutting it into 2 s segments`);
    media = await makeMedia(mediaDir, config.mediaSeconds);
    result.media = { ...media.describe, generatedInMs: Math.round(media.generatedMs) };
    log(`media: ${media.segments.length} segments, ${Math.round(media.describe.segmentBytes.mean / 1024)} KiB mean`);
  }
  const ctx = { cfg: config, bus, nats, media, log, results: result.scenarios };
  for (const [id, key, fn] of SCENARIOS) {
    if (!enabled(id)) continue;
    const started = performance.now();
    log(`scenario ${id} (${key})`);
    try {
      result.scenarios[key] = await fn(ctx);
    } catch (e) {
      result.errors[key] = e.stack ?? String(e);
      log(`scenario ${id} failed: ${e.message}`);
    }
    if (result.scenarios[key]) result.scenarios[key].seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  }
} finally {
  await bus.close().catch(() => undefined);
  await nats.stop();
  await rm(mediaDir, { recursive: true, force: true });
}
machine.loadavgAfter = loadavg().map((x) => Number(x.toFixed(2)));
result.totalSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));

const outDir = join(ROOT, 'bench', 'results');
await mkdir(outDir, { recursive: true });
// A smoke or partial run must not replace the figures of the last full run.
const full = !config.quick && config.only.length === 0;
const base = full ? 'latest' : 'partial';
// The raw results first: a report that cannot render them must not lose them.
await writeFile(join(outDir, `${base}.json`), JSON.stringify(result, null, 1) + '\n');
await writeFile(join(outDir, `${base}.md`), renderMarkdown(result));
log(`wrote bench/results/${base}.json and ${base}.md in ${result.totalSeconds} s`);
// Only a full run of every scenario speaks for livemesh in the docs.
if (full) {
  await updateDocs(result);
  log('updated the latest results in docs/BENCHMARKS.md');
}
if (Object.keys(result.errors).length) {
  console.error(`bench: ${Object.keys(result.errors).length} scenario(s) failed: ${Object.keys(result.errors).join(', ')}`);
  process.exit(1);
}
process.exit(0);
