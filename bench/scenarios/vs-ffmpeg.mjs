// Scenario 2: the default chain (watermark + transcode 480p) against one ffmpeg doing the same
// filters on the whole stream, and against the same per-segment ffmpeg work with no bus. All three
// process the same recording as fast as they can; x realtime = media seconds / wall seconds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PIPELINE } from '@livemesh/services';
import { collectOutputs, deleteChain, publishHop0, putChain, startWorker } from '../lib/mesh.mjs';
import { diffCpu, runToEnd, selfCpu, snapshotCpu } from '../lib/proc.mjs';
import { summary } from '../lib/stats.mjs';
import { oneFfmpegArgs, perSegmentPipeline, watermarkTextFile } from '../lib/work.mjs';

export async function vsFfmpeg(ctx) {
  const { cfg, bus, nats, media } = ctx;
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-s2-'));
  const textFile = await watermarkTextFile(dir);
  const seconds = media.segments.reduce((a, s) => a + s.duration, 0);
  const minutes = seconds / 60;
  const runs = { oneFfmpeg: [], perSegment: [], livemesh: [] };
  const stages = DEFAULT_PIPELINE.stages.map((s) => ({ service: s.service, params: s.params }));
  const workers = [];
  const out = collectOutputs(bus);
  try {
    for (const s of stages) workers.push(await startWorker(nats.url, s.service, `bench-${s.service}`));
    const pids = () => ({ nats: nats.pid, ...Object.fromEntries(workers.map((w) => [w.name, w.pid])) });
    for (let run = 0; run < cfg.runs; run++) {
      // 1. One ffmpeg on the whole recording.
      {
        const c0 = selfCpu();
        const r = await runToEnd('ffmpeg', oneFfmpegArgs(media.clip, textFile, join(dir, 'one.ts')));
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
      // 3. livemesh: every segment published to hop 0 at once, the default chain's workers do the rest.
      {
        const streamId = `s2-r${run}-${Date.now() % 1e6}`;
        const chain = await putChain(bus, streamId, stages);
        const before = snapshotCpu(pids());
        const d0 = process.cpuUsage();
        const t0 = performance.now();
        for (const [i, s] of media.segments.entries()) await publishHop0(bus, chain, i, s.data, { duration: s.duration });
        await out.until(() => out.of(streamId).size === media.segments.length, 600_000, `all outputs of ${streamId}`);
        const lastAt = Math.max(...[...out.of(streamId).values()].map((a) => a.at));
        const cpu = diffCpu(before, snapshotCpu(pids()));
        const d = process.cpuUsage(d0);
        const wallMs = lastAt - t0;
        const workerSelf = workers.reduce((a, w) => a + cpu[w.name].self, 0);
        const ffmpegSec = workers.reduce((a, w) => a + cpu[w.name].children, 0);
        const driverSec = (d.user + d.system) / 1e6;
        const total = cpu.nats.self + workerSelf + ffmpegSec + driverSec;
        runs.livemesh.push({
          run,
          streamId,
          wallMs,
          xRealtime: seconds / (wallMs / 1000),
          cpuSec: total,
          cpu: { natsServer: cpu.nats.self, workersNode: workerSelf, ffmpeg: ffmpegSec, harness: driverSec },
          // The bus and the orchestration around the media work: the server, the workers' own
          // node processes, and the bus client work of the publisher/collector standing in for
          // ingest and delivery.
          busShare: (cpu.nats.self + workerSelf + driverSec) / total,
          busShareWithoutHarness: (cpu.nats.self + workerSelf) / (total - driverSec),
        });
        await deleteChain(bus, streamId);
      }
      ctx.log(`s2 run ${run}: one ffmpeg ${runs.oneFfmpeg.at(-1).xRealtime.toFixed(2)}x, per-segment ${runs.perSegment.at(-1).xRealtime.toFixed(2)}x, livemesh ${runs.livemesh.at(-1).xRealtime.toFixed(2)}x realtime`);
    }
  } finally {
    out.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await rm(dir, { recursive: true, force: true });
  }
  const agg = (list, k) => summary(list.map((r) => r[k]));
  return {
    mediaSeconds: seconds,
    chain: stages,
    workerSettings: 'one worker per service, STAGE_CONCURRENCY=1 (the defaults)',
    oneFfmpeg: { xRealtime: agg(runs.oneFfmpeg, 'xRealtime'), cpuSecPerMinute: summary(runs.oneFfmpeg.map((r) => r.cpuSec / minutes)) },
    perSegment: { xRealtime: agg(runs.perSegment, 'xRealtime'), cpuSecPerMinute: summary(runs.perSegment.map((r) => r.cpuSec / minutes)) },
    livemesh: {
      xRealtime: agg(runs.livemesh, 'xRealtime'),
      cpuSecPerMinute: summary(runs.livemesh.map((r) => r.cpuSec / minutes)),
      busShare: agg(runs.livemesh, 'busShare'),
      busShareWithoutHarness: agg(runs.livemesh, 'busShareWithoutHarness'),
    },
    // Ratios of medians.
    ratios: {
      vsOneFfmpeg: median2(runs.livemesh, runs.oneFfmpeg),
      vsPerSegment: median2(runs.livemesh, runs.perSegment),
      perSegmentVsOneFfmpeg: median2(runs.perSegment, runs.oneFfmpeg),
    },
    raw: runs,
  };
}

function median2(a, b) {
  return summary(a.map((r) => r.xRealtime)).median / summary(b.map((r) => r.xRealtime)).median;
}
