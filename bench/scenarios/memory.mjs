// A worker's own memory over a long stream. A 30-minute stream does not fit the benchmark's time,
// so 30 minutes of segments (900 x 2 s) go through a worker as fast as it takes them, and its
// resident memory is sampled as they pass: VmRSS of the worker process plus that of its live
// descendants (the lm-engine processes a warm worker keeps; a per-segment ffmpeg is gone by the
// time a sample is taken). Flat = the fitted growth over the measured segments is within 5 % of
// the memory after warm-up. Two runs:
// - engine: the default chain as the orchestrator plans it (fused, one hop) on a worker with the
//   warm engine, on the segments of a small generated clip (320x180 at 10 fps, a continuous
//   30-minute timeline, so 900 segments fit in about two minutes; the output is still 854x480).
//   The engine is replaced after ENGINE_RECYCLE_SEGMENTS (500 by default): once in this run.
// - pass-through: the real 720p segments through a pass-through worker (the node side alone).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeMedia } from '../lib/media.mjs';
import { collectOutputs, deleteChain, planDefaultChain, publishHop0, putChain, THROUGHPUT_BUDGET_MS, startWorker } from '../lib/mesh.mjs';
import { descendantsOf, treeRssOf } from '../lib/proc.mjs';
import { linearFit } from '../lib/stats.mjs';

/** `count` segments through one worker, at most `inFlight` outstanding; RSS sampled as they pass. */
async function soak(ctx, out, { label, service, stages, fused, env, segments, count }) {
  const { bus, nats } = ctx;
  const m = ctx.cfg.memory;
  const worker = await startWorker(nats.url, service, `bench-mem-${label}`, env);
  const samples = [];
  const engines = new Set();
  const sample = (done) => {
    const r = treeRssOf(worker.pid);
    for (const p of descendantsOf(worker.pid)) engines.add(p);
    samples.push({ segments: done, rss: r?.total, workerRss: r?.self, descendantsRss: r?.descendants, processes: r?.processes });
  };
  try {
    const streamId = `mem-${label}-${Date.now() % 1e6}`;
    // Paced by its own outputs, not by the clock: the throughput budget keeps every segment worked.
    const chain = await putChain(bus, streamId, stages, { fused, latencyBudgetMs: THROUGHPUT_BUDGET_MS });
    const t0 = performance.now();
    sample(0);
    for (let seq = 0; seq < count; seq++) {
      const seg = segments[seq % segments.length];
      // At most inFlight segments outstanding: fast, but a queue the worker actually drains.
      if (seq >= m.inFlight) await out.until(() => out.of(streamId).size > seq - m.inFlight, 120_000, `${streamId} output ${seq - m.inFlight}`);
      await publishHop0(bus, chain, seq, seg.data, { duration: seg.duration, ingestTime: Date.now() });
      const done = out.of(streamId).size;
      if (done >= samples.at(-1).segments + m.sampleEvery) sample(done);
    }
    await out.until(() => out.of(streamId).size === count, 120_000, `${streamId} all outputs`);
    sample(count);
    const wallSec = (performance.now() - t0) / 1000;
    await deleteChain(bus, streamId);
    const after = samples.filter((s) => s.segments >= m.warmup);
    const fit = linearFit(after.map((s) => s.segments), after.map((s) => s.rss));
    const span = count - (after[0]?.segments ?? 0);
    const startRss = after[0]?.rss;
    const growth = fit.slope * span;
    const mb = (b) => b / 2 ** 20;
    const res = {
      label,
      service,
      engine: worker.engine,
      chain: stages.map((s) => s.service).join(' -> ') + (fused?.length ? ' (fused, one hop)' : ''),
      segments: count,
      distinctSegments: segments.length,
      mediaMinutes: (count * 2) / 60,
      wallSec,
      warmupSegments: m.warmup,
      // Processes seen below the worker over the run: the engines, the first and its replacements.
      engineProcesses: engines.size,
      rssAfterWarmupMb: mb(startRss),
      rssEndMb: mb(samples.at(-1).rss),
      rssMaxMb: mb(Math.max(...samples.map((s) => s.rss))),
      workerRssEndMb: mb(samples.at(-1).workerRss),
      slopeKbPer100Segments: (fit.slope * 100) / 1024,
      fittedGrowthMb: mb(growth),
      fittedGrowthPct: (growth / startRss) * 100,
      flat: growth / startRss <= 0.05,
      samples: samples.map((s) => ({ segments: s.segments, rssMb: Number(mb(s.rss).toFixed(2)), workerRssMb: Number(mb(s.workerRss).toFixed(2)), descendantsRssMb: Number(mb(s.descendantsRss).toFixed(2)), processes: s.processes })),
    };
    ctx.log(`memory ${label}: worker${engines.size ? ` + ${engines.size} engine process(es)` : ""} RSS ${res.rssAfterWarmupMb.toFixed(1)} -> ${res.rssEndMb.toFixed(1)} MB over ${count} segments in ${wallSec.toFixed(0)} s, fitted growth ${res.fittedGrowthMb.toFixed(2)} MB`);
    return res;
  } finally {
    await worker.stop();
  }
}

export async function memory(ctx) {
  const { cfg, media } = ctx;
  const m = cfg.memory;
  const out = collectOutputs(ctx.bus);
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-mem-'));
  try {
    const c = m.engineClip;
    ctx.log(`memory: generating ${m.segments * 2} s of ${c.width}x${c.height} ${c.fps} fps for the engine run`);
    const small = await makeMedia(dir, m.segments * 2, { ...c, name: 'mem' });
    const plan = planDefaultChain();
    const engine = await soak(ctx, out, {
      label: 'engine',
      service: plan.stages[0].service,
      stages: plan.stages,
      fused: plan.fused,
      env: { STAGE_ENGINE: 'warm' },
      segments: small.segments,
      count: m.segments,
    });
    engine.clip = { ...small.describe, generatedSec: small.generatedMs / 1000 };
    engine.recycleAfter = Number(process.env.ENGINE_RECYCLE_SEGMENTS ?? 500);
    const passthrough = await soak(ctx, out, { label: 'passthrough', service: 'passthrough', stages: [{ service: 'passthrough' }], fused: [], env: {}, segments: media.segments, count: m.segments });
    return { engine, passthrough };
  } finally {
    out.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
