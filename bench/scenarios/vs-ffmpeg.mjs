// Scenario 2: the default chain (watermark + transcode 480p) against one ffmpeg doing the same
// filters on the whole stream, and against the same per-segment ffmpeg work with no bus. All of
// them process the same recording as fast as they can; x realtime = media seconds / wall seconds.
// livemesh runs four ways: the chain as the orchestrator plans it (fused into one hop) and with
// `fuse: false` (one hop per stage), each on the warm media engine and on one ffmpeg per segment
// (STAGE_ENGINE=warm|cli). Quality: PSNR of the one-ffmpeg output and of livemesh's default
// (fused, warm) output against the same reference, each with the video bit rate it reached.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectOutputs, deleteChain, planDefaultChain, publishHop0, putChain, THROUGHPUT_BUDGET_MS, servicesToRun, startWorker } from '../lib/mesh.mjs';
import { diffCpu, runToEnd, selfCpu, snapshotCpu } from '../lib/proc.mjs';
import { psnr, videoKbps } from '../lib/quality.mjs';
import { summary } from '../lib/stats.mjs';
import { chainFilter, oneFfmpegArgs, perSegmentPipeline, watermarkTextFile } from '../lib/work.mjs';

/** The livemesh runs; the first is the default (what the Targets table reports). */
export const S2_VARIANTS = [
  { key: 'fusedWarm', fuse: true, engine: 'warm', describe: 'fused (one hop), warm engine: the default' },
  { key: 'fusedCli', fuse: true, engine: 'cli', describe: 'fused (one hop), one ffmpeg per segment' },
  { key: 'unfusedWarm', fuse: false, engine: 'warm', describe: 'unfused (a hop per stage), warm engine' },
  { key: 'unfusedCli', fuse: false, engine: 'cli', describe: 'unfused (a hop per stage), one ffmpeg per segment (the old default)' },
  // With one slot a worker leaves a core idle while it publishes, acks and fetches, and while
  // x264's threads fill up and drain at every segment's ends; one ffmpeg on the whole stream never
  // drains. Two slots is a worker sized to this machine's two cores.
  { key: 'fusedWarm2', fuse: true, engine: 'warm', concurrency: 2, describe: 'fused (one hop), warm engine, STAGE_CONCURRENCY=2 (two segments at once)' },
];

/** One livemesh run of `variant`: its workers started for it, every segment published at once. */
async function livemeshRun(ctx, out, variant, run) {
  const { bus, nats, media } = ctx;
  const seconds = media.segments.reduce((a, s) => a + s.duration, 0);
  const plan = planDefaultChain({ fuse: variant.fuse });
  const workers = [];
  try {
    for (const service of servicesToRun(plan.stages, plan.fused)) {
      workers.push(await startWorker(nats.url, service, `bench-s2-${variant.key}-${service}`, { STAGE_ENGINE: variant.engine, STAGE_CONCURRENCY: String(variant.concurrency ?? 1) }));
    }
    const pids = { nats: nats.pid, ...Object.fromEntries(workers.map((w) => [w.name, w.pid])) };
    const streamId = `s2-${variant.key}-r${run}-${Date.now() % 1e6}`;
    const chain = await putChain(bus, streamId, plan.stages, { fused: plan.fused, latencyBudgetMs: THROUGHPUT_BUDGET_MS });
    const before = snapshotCpu(pids);
    const d0 = process.cpuUsage();
    const t0 = performance.now();
    for (const [i, s] of media.segments.entries()) await publishHop0(bus, chain, i, s.data, { duration: s.duration });
    await out.until(() => out.of(streamId).size === media.segments.length, 600_000, `all outputs of ${streamId}`);
    const lastAt = Math.max(...[...out.of(streamId).values()].map((a) => a.at));
    const cpu = diffCpu(before, snapshotCpu(pids));
    const d = process.cpuUsage(d0);
    const wallMs = lastAt - t0;
    // Workers' own node processes, and below them (reaped or alive) ffmpeg runs or lm-engines.
    const workerSelf = workers.reduce((a, w) => a + cpu[w.name].self, 0);
    const mediaSec = workers.reduce((a, w) => a + cpu[w.name].children, 0);
    const driverSec = (d.user + d.system) / 1e6;
    const total = cpu.nats.self + workerSelf + mediaSec + driverSec;
    await deleteChain(bus, streamId);
    return {
      run,
      streamId,
      hops: chain.hops.length,
      fused: plan.fused,
      workers: workers.map((w) => ({ service: w.name, engine: w.engine })),
      wallMs,
      xRealtime: seconds / (wallMs / 1000),
      cpuSec: total,
      cpu: { natsServer: cpu.nats.self, workersNode: workerSelf, media: mediaSec, harness: driverSec },
      // The bus and the orchestration around the media work: the server, the workers' own
      // node processes, and the bus client work of the publisher/collector standing in for
      // ingest and delivery.
      busShare: (cpu.nats.self + workerSelf + driverSec) / total,
      busShareWithoutHarness: (cpu.nats.self + workerSelf) / (total - driverSec),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

export async function vsFfmpeg(ctx) {
  const { cfg, media } = ctx;
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-s2-'));
  const textFile = await watermarkTextFile(dir);
  const seconds = media.segments.reduce((a, s) => a + s.duration, 0);
  const minutes = seconds / 60;
  const runs = { oneFfmpeg: [], perSegment: [], ...Object.fromEntries(S2_VARIANTS.map((v) => [v.key, []])) };
  // The default's first run keeps its output bytes for the quality check.
  const qualityPrefix = `s2-${S2_VARIANTS[0].key}-r0-`;
  const out = collectOutputs(ctx.bus, { keepData: (id) => id.startsWith(qualityPrefix) });
  const oneOut = join(dir, 'one.ts');
  let quality;
  try {
    for (let run = 0; run < cfg.runs; run++) {
      // 1. One ffmpeg on the whole recording.
      {
        const c0 = selfCpu();
        const r = await runToEnd('ffmpeg', oneFfmpegArgs(media.clip, textFile, oneOut));
        const c1 = selfCpu();
        runs.oneFfmpeg.push({ run, wallMs: r.ms, xRealtime: seconds / (r.ms / 1000), cpuSec: c1.children - c0.children });
      }
      // 2. The same per-segment work, two pipelined stages, no bus.
      {
        const c0 = selfCpu();
        const d0 = process.cpuUsage();
        const t0 = performance.now();
        let last = t0;
        const p = perSegmentPipeline(textFile, { onDone: (_k, at) => (last = Math.max(last, at)) });
        media.segments.forEach((s, i) => p.push(i, s.data));
        p.close();
        await p.done;
        const c1 = selfCpu();
        const d = process.cpuUsage(d0);
        const wallMs = last - t0;
        runs.perSegment.push({ run, wallMs, xRealtime: seconds / (wallMs / 1000), cpuSec: c1.children - c0.children + (d.user + d.system) / 1e6 });
      }
      // 3. livemesh, each way.
      for (const v of S2_VARIANTS) runs[v.key].push(await livemeshRun(ctx, out, v, run));
      ctx.log(`s2 run ${run}: one ffmpeg ${runs.oneFfmpeg.at(-1).xRealtime.toFixed(2)}x, per-segment ${runs.perSegment.at(-1).xRealtime.toFixed(2)}x, livemesh ${S2_VARIANTS.map((v) => `${v.key} ${runs[v.key].at(-1).xRealtime.toFixed(2)}x`).join(', ')} realtime`);
    }
    // 4. Quality: both outputs against the source through the same drawtext + scale, no encode.
    // Frames pair up by their time since the first frame: the whole-stream ffmpeg writes its own
    // timeline, livemesh keeps the source's; both start at the source's first frame.
    const first = runs[S2_VARIANTS[0].key][0];
    const lmFile = join(dir, 'livemesh.ts');
    await writeFile(lmFile, Buffer.concat([...out.of(first.streamId).entries()].sort((a, b) => a[0] - b[0]).map(([, a]) => a.data)));
    const refFilter = chainFilter(textFile);
    quality = { reference: 'the source through the same drawtext + scale, not encoded', seconds };
    for (const [key, file] of [['oneFfmpeg', oneOut], ['livemesh', lmFile]]) {
      quality[key] = { psnr: await psnr(file, media.clip, { refFilter, alignStart: true }), videoKbps: await videoKbps(file, seconds) };
    }
    quality.differenceDb = quality.oneFfmpeg.psnr.average - quality.livemesh.psnr.average;
    quality.differenceYDb = quality.oneFfmpeg.psnr.y - quality.livemesh.psnr.y;
    ctx.log(`s2 quality: one ffmpeg PSNR ${quality.oneFfmpeg.psnr.average} dB at ${quality.oneFfmpeg.videoKbps.toFixed(0)} kb/s, livemesh ${quality.livemesh.psnr.average} dB at ${quality.livemesh.videoKbps.toFixed(0)} kb/s`);
  } finally {
    out.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const agg = (list, k) => summary(list.map((r) => r[k]));
  const oneX = summary(runs.oneFfmpeg.map((r) => r.xRealtime)).median;
  const perSegX = summary(runs.perSegment.map((r) => r.xRealtime)).median;
  const variants = {};
  for (const v of S2_VARIANTS) {
    const list = runs[v.key];
    const x = agg(list, 'xRealtime');
    variants[v.key] = {
      describe: v.describe,
      fuse: v.fuse,
      engine: v.engine,
      hopsRun: list[0]?.workers.length,
      workers: list[0]?.workers,
      xRealtime: x,
      cpuSecPerMinute: summary(list.map((r) => r.cpuSec / minutes)),
      cpuSplitPerMinute: Object.fromEntries(['natsServer', 'workersNode', 'media', 'harness'].map((k) => [k, summary(list.map((r) => r.cpu[k] / minutes))])),
      busShare: agg(list, 'busShare'),
      busShareWithoutHarness: agg(list, 'busShareWithoutHarness'),
      // Ratios of medians.
      vsOneFfmpeg: x.median / oneX,
      vsPerSegment: x.median / perSegX,
    };
  }
  return {
    mediaSeconds: seconds,
    chain: planDefaultChain(),
    defaultVariant: S2_VARIANTS[0].key,
    workerSettings: 'one worker per hop that receives segments, STAGE_CONCURRENCY=1 (the default) unless the run says otherwise',
    oneFfmpeg: { xRealtime: agg(runs.oneFfmpeg, 'xRealtime'), cpuSecPerMinute: summary(runs.oneFfmpeg.map((r) => r.cpuSec / minutes)) },
    perSegment: { xRealtime: agg(runs.perSegment, 'xRealtime'), cpuSecPerMinute: summary(runs.perSegment.map((r) => r.cpuSec / minutes)), vsOneFfmpeg: perSegX / oneX },
    variants,
    quality,
    raw: runs,
  };
}
