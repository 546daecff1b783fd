// Scenario 3: density. L live streams at once, each releasing a 2 s segment every 2 s (as ingest
// does after cutting it), staggered across the interval; a level passes when every segment of
// every stream reaches lm.out, capture-to-output stays under the bound, and latency does not grow
// over the level (the streams keep up at >= 1x). Levels go up until one fails.
// Capture-to-output here = arrival on lm.out - the wall time the segment's first frame was captured
// (its release time minus its duration); a player's own buffer comes on top.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutputs, deleteChain, planDefaultChain, publishHop0, putChain, servicesToRun, startWorker } from '../lib/mesh.mjs';
import { runToEnd, selfCpu, sleep, snapshotCpu, diffCpu } from '../lib/proc.mjs';
import { quantile } from '../lib/stats.mjs';
import { oneFfmpegArgs, perSegmentPipeline, watermarkTextFile } from '../lib/work.mjs';

const SEG_MS = 2000;

/** Publishes L streams on a live schedule; returns per-segment capture-to-output samples. */
async function liveLevel(ctx, out, { label, streams, segmentsPerStream, stages, fused, boundMs, pids }) {
  const { bus, media } = ctx;
  const ids = Array.from({ length: streams }, (_, i) => `s3-${label}-L${streams}-${i}-${Date.now() % 1e6}`);
  const chains = await Promise.all(ids.map((id) => putChain(bus, id, stages, { fused })));
  const before = snapshotCpu(pids);
  const d0 = process.cpuUsage();
  const tStart = Date.now() + 200;
  const wallStart = performance.now();
  const publishErrors = [];
  const publishers = chains.map(async (chain, i) => {
    for (let k = 0; k < segmentsPerStream; k++) {
      // Segment k of stream i is fully captured (cut) at this moment.
      const release = tStart + Math.round((i * SEG_MS) / streams) + (k + 1) * SEG_MS;
      const wait = release - Date.now();
      if (wait > 0) await sleep(wait);
      const seg = media.segments[k % media.segments.length];
      try {
        await publishHop0(bus, chain, k, seg.data, { duration: SEG_MS / 1000, ingestTime: release });
      } catch (e) {
        publishErrors.push(e.message);
      }
    }
  });
  await Promise.all(publishers);
  const expected = streams * segmentsPerStream;
  const count = () => ids.reduce((a, id) => a + out.of(id).size, 0);
  await out.until(() => count() === expected, boundMs + 1000, `${label} L=${streams}`).catch(() => undefined);
  const cpu = diffCpu(before, snapshotCpu(pids));
  const d = process.cpuUsage(d0);
  const wallSec = (performance.now() - wallStart) / 1000;
  const g2g = [];
  let growth = 0;
  for (const id of ids) {
    const arr = [...out.of(id).entries()].sort((a, b) => a[0] - b[0]).map(([, a]) => a.wall - (a.ingestTime - a.duration * 1000));
    g2g.push(...arr);
    if (arr.length >= 3) {
      const third = Math.max(1, Math.floor(arr.length / 3));
      const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
      growth = Math.max(growth, avg(arr.slice(-third)) - avg(arr.slice(0, third)));
    }
  }
  await Promise.all(ids.map((id) => deleteChain(bus, id)));
  const delivered = count();
  const maxG2g = g2g.length ? Math.max(...g2g) : undefined;
  const reasons = [];
  const late = ids.reduce((a, id) => a + out.gapsOf(id).size, 0);
  if (delivered < expected) reasons.push(`${expected - delivered} of ${expected} segments not delivered within the bound${late ? ` (${late} dropped as past their latency budget)` : ''}`);
  if (maxG2g !== undefined && maxG2g > boundMs) reasons.push(`capture-to-output reached ${Math.round(maxG2g)} ms > ${boundMs} ms`);
  if (growth > SEG_MS) reasons.push(`latency grew ${Math.round(growth)} ms over the level (falling behind realtime)`);
  if (publishErrors.length) reasons.push(`${publishErrors.length} publishes failed: ${publishErrors[0]}`);
  const totalCpu = Object.values(cpu).reduce((a, c) => a + c.self + c.children, 0) + (d.user + d.system) / 1e6;
  return {
    streams,
    expected,
    delivered,
    g2gMs: { p50: quantile(g2g, 0.5), p95: quantile(g2g, 0.95), p99: quantile(g2g, 0.99), max: maxG2g },
    latencyGrowthMs: growth,
    cpuCoresBusy: totalCpu / wallSec,
    pass: reasons.length === 0,
    reasons,
    g2gSamplesMs: g2g,
  };
}

async function ramp(levels, runLevel, log, label) {
  const results = [];
  for (const L of levels) {
    const r = await runLevel(L);
    results.push(r);
    log(`s3 ${label} L=${L}: ${r.pass ? 'pass' : 'FAIL'}${r.g2gMs ? ` g2g p50 ${Math.round(r.g2gMs.p50 ?? NaN)} ms max ${Math.round(r.g2gMs.max ?? NaN)} ms` : ''}${r.reasons?.length ? ` (${r.reasons.join('; ')})` : ''}`);
    if (!r.pass) break;
  }
  const passed = results.filter((r) => r.pass).map((r) => r.streams);
  const failed = results.find((r) => !r.pass);
  return { maxStreams: passed.length ? Math.max(...passed) : 0, brokeAt: failed ? failed.streams : null, brokeBecause: failed ? failed.reasons : null, levels: results };
}

/** Levels from `start`, +1 while they pass (up to max), or -1 while they fail (down to 1). */
async function stepSearch(start, max, runLevel, log) {
  const levels = [];
  const run = async (L) => {
    const r = await runLevel(L);
    levels.push(r);
    log(`s3 one ffmpeg per stream L=${L}: ${r.pass ? 'pass' : 'FAIL'} (slowest at ${r.speed.toFixed(2)}x)`);
    return r.pass;
  };
  let L = start;
  if (await run(L)) {
    while (L < max && (await run(L + 1))) L++;
  } else {
    while (L > 1 && !(await run(L - 1))) L--;
    L = L - 1;
  }
  const passed = levels.filter((r) => r.pass).map((r) => r.streams);
  const fails = levels.filter((r) => !r.pass).map((r) => r.streams);
  return { maxStreams: passed.length ? Math.max(...passed) : 0, brokeAt: fails.length ? Math.min(...fails) : null, levels: levels.sort((a, b) => a.streams - b.streams) };
}

/** N one-ffmpeg-per-stream transcoders reading at 1x (-re); a level passes if each keeps up. */
async function ffmpegLevel(clip, textFile, dir, streams, seconds) {
  const c0 = selfCpu();
  const t0 = performance.now();
  const walls = await Promise.all(Array.from({ length: streams }, async (_, i) => {
    const r = await runToEnd('ffmpeg', oneFfmpegArgs(clip, textFile, join(dir, `rt${i}.ts`), { realtime: true, seconds }));
    return r.ms;
  }));
  const wallSec = (performance.now() - t0) / 1000;
  const c1 = selfCpu();
  // -re paces input at 1x; a transcoder that cannot keep up takes longer than the media it reads.
  // 1 s covers process start and the encoder's look-ahead flush at the end.
  const slowest = Math.max(...walls) / 1000;
  const pass = slowest <= seconds + 1;
  return { streams, speed: seconds / slowest, pass, reasons: pass ? [] : [`slowest took ${slowest.toFixed(2)} s for ${seconds} s of media`], cpuCoresBusy: (c1.children - c0.children) / wallSec };
}

export async function density(ctx) {
  const { cfg, bus, nats, media } = ctx;
  const c = cfg.s3;
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-s3-'));
  const textFile = await watermarkTextFile(dir);
  const out = collectOutputs(bus);
  const result = {};
  try {
    // Pass-through chain (2 hops).
    {
      const workers = [];
      try {
        for (let r = 0; r < c.passthrough.replicas; r++) workers.push(await startWorker(nats.url, 'passthrough', `bench-s3-pt-${r}`, { STAGE_CONCURRENCY: String(c.passthrough.concurrency) }));
        const pids = { nats: nats.pid, ...Object.fromEntries(workers.map((w) => [w.name, w.pid])) };
        const stages = [{ service: 'passthrough' }, { service: 'passthrough' }];
        const lm = await ramp(c.passthrough.levels, (L) => liveLevel(ctx, out, { label: 'pt', streams: L, segmentsPerStream: c.passthrough.segmentsPerStream, stages, boundMs: c.boundMs, pids }), ctx.log, 'pass-through');
        // Baseline: the same schedule at the highest level tried, each hop a file write + read, no bus.
        const top = lm.brokeAt ?? lm.maxStreams;
        const base = await noBusCopyLevel(media, dir, top, c.passthrough.segmentsPerStream, c.boundMs);
        ctx.log(`s3 pass-through no-bus baseline at L=${top}: ${base.pass ? 'pass' : 'FAIL'}`);
        result.passthrough = { stages, workers: `${c.passthrough.replicas} passthrough workers, STAGE_CONCURRENCY=${c.passthrough.concurrency}`, livemesh: lm, baselineAtTop: base };
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
    // The default chain (watermark + transcode 480p) as the orchestrator plans it: fused into one
    // hop, on the workers' default engine (warm when lm-engine is built). Then, for comparison,
    // unfused on one ffmpeg per segment (the old default).
    {
      const runChain = async (label, { fuse, env }) => {
        const plan = planDefaultChain({ fuse });
        const workers = [];
        try {
          for (const service of servicesToRun(plan.stages, plan.fused)) {
            workers.push(await startWorker(nats.url, service, `bench-s3-${label}-${service}`, { STAGE_CONCURRENCY: String(c.defaultChain.concurrency), ...env }));
          }
          const pids = { nats: nats.pid, ...Object.fromEntries(workers.map((w) => [w.name, w.pid])) };
          const lm = await ramp(c.defaultChain.levels, (L) => liveLevel(ctx, out, { label, streams: L, segmentsPerStream: c.defaultChain.segmentsPerStream, stages: plan.stages, fused: plan.fused, boundMs: c.boundMs, pids }), ctx.log, `default chain ${label}`);
          const engines = [...new Set(workers.map((w) => w.engine))].join('+');
          return { stages: plan.stages, fused: plan.fused, engine: engines, workers: `${workers.map((w) => w.name.replace(/^worker:/, '')).join(', ')}: ${plan.fused.length ? 'fused, one hop' : 'unfused, a hop per stage'}, ${engines} engine, STAGE_CONCURRENCY=${c.defaultChain.concurrency}`, livemesh: lm };
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
        }
      };
      result.defaultChain = await runChain('dc', { fuse: true, env: {} });
      if (c.defaultChain.compareUnfusedCli) result.defaultChainUnfusedCli = await runChain('dcu', { fuse: false, env: { STAGE_ENGINE: 'cli' } });
      // Baselines: one ffmpeg per stream, and the per-segment work with no bus (capture-to-output of one stream).
      // Start near what scenario 2 measured for one ffmpeg (x realtime ~ streams it could carry),
      // then step by one stream up until a level fails, or down until one passes.
      const estimate = ctx.results?.vsFfmpeg?.oneFfmpeg?.xRealtime?.median;
      const startAt = Math.min(c.ffmpegMaxStreams, Math.max(1, Math.floor((estimate ?? 2) * 0.8)));
      result.defaultChain.oneFfmpegPerStream = await stepSearch(startAt, c.ffmpegMaxStreams, (L) => ffmpegLevel(media.clip, textFile, dir, L, c.ffmpegLevelSeconds), ctx.log);
      result.defaultChain.noBusG2g = await noBusChainLevel(media, textFile, c.defaultChain.segmentsPerStream, c.defaultChain.concurrency, true);
      ctx.log(`s3 default chain no-bus capture-to-output p50 ${Math.round(result.defaultChain.noBusG2g.g2gMs.p50)} ms`);
    }
  } finally {
    out.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

/** L streams on the live schedule, each segment written and read back once per hop (2 hops). */
async function noBusCopyLevel(media, dir, streams, segmentsPerStream, boundMs) {
  const tStart = Date.now() + 200;
  const g2g = [];
  await Promise.all(Array.from({ length: streams }, async (_, i) => {
    for (let k = 0; k < segmentsPerStream; k++) {
      const release = tStart + Math.round((i * SEG_MS) / streams) + (k + 1) * SEG_MS;
      const wait = release - Date.now();
      if (wait > 0) await sleep(wait);
      let buf = media.segments[k % media.segments.length].data;
      for (let h = 0; h < 2; h++) {
        const f = join(dir, `cp-${i}-${h}.ts`);
        await writeFile(f, buf);
        buf = await readFile(f);
      }
      g2g.push(Date.now() - (release - SEG_MS));
    }
  }));
  const max = Math.max(...g2g);
  return { streams, g2gMs: { p50: quantile(g2g, 0.5), p99: quantile(g2g, 0.99), max }, pass: max <= boundMs };
}

/**
 * One stream on the live schedule through the per-segment ffmpeg work with no bus (`fused`: one
 * ffmpeg per segment for both stages, as the fused hop on the CLI path).
 */
async function noBusChainLevel(media, textFile, segmentsPerStream, parallel, fused) {
  const releases = new Map();
  const g2g = [];
  const p = perSegmentPipeline(textFile, {
    parallel,
    fused,
    onDone: (k) => g2g.push(Date.now() - (releases.get(k) - SEG_MS)),
  });
  const tStart = Date.now() + 200;
  for (let k = 0; k < segmentsPerStream; k++) {
    const release = tStart + (k + 1) * SEG_MS;
    const wait = release - Date.now();
    if (wait > 0) await sleep(wait);
    releases.set(k, release);
    p.push(k, media.segments[k % media.segments.length].data);
  }
  p.close();
  await p.done;
  return { streams: 1, fused, g2gMs: { p50: quantile(g2g, 0.5), p99: quantile(g2g, 0.99), max: Math.max(...g2g) }, g2gSamplesMs: g2g };
}
