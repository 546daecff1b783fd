// A worker's own memory over a long stream. A 30-minute stream does not fit the benchmark's time,
// so 30 minutes of segments (900 x 2 s, real 720p segments) go through a pass-through worker as
// fast as it takes them, and its resident memory (VmRSS of the worker process; ffmpeg children
// would be separate processes) is sampled as they pass. Flat = the fitted growth over the measured
// segments is within 5 % of the worker's memory after warm-up.
import { collectOutputs, deleteChain, publishHop0, putChain, startWorker } from '../lib/mesh.mjs';
import { rssOf } from '../lib/proc.mjs';
import { linearFit } from '../lib/stats.mjs';

export async function memory(ctx) {
  const { cfg, bus, nats, media } = ctx;
  const m = cfg.memory;
  const out = collectOutputs(bus);
  const worker = await startWorker(nats.url, 'passthrough', 'bench-mem');
  const samples = [];
  try {
    const streamId = `mem-${Date.now() % 1e6}`;
    const chain = await putChain(bus, streamId, [{ service: 'passthrough' }]);
    const t0 = performance.now();
    samples.push({ segments: 0, rss: rssOf(worker.pid) });
    for (let seq = 0; seq < m.segments; seq++) {
      const seg = media.segments[seq % media.segments.length];
      // At most inFlight segments outstanding: fast, but a queue the worker actually drains.
      if (seq >= m.inFlight) await out.until(() => out.of(streamId).size > seq - m.inFlight, 60_000, `${streamId} output ${seq - m.inFlight}`);
      await publishHop0(bus, chain, seq, seg.data, { duration: seg.duration, ingestTime: Date.now() });
      const done = out.of(streamId).size;
      if (done >= samples.at(-1).segments + m.sampleEvery) samples.push({ segments: done, rss: rssOf(worker.pid) });
    }
    await out.until(() => out.of(streamId).size === m.segments, 60_000, `${streamId} all outputs`);
    samples.push({ segments: m.segments, rss: rssOf(worker.pid) });
    const wallSec = (performance.now() - t0) / 1000;
    await deleteChain(bus, streamId);
    const after = samples.filter((s) => s.segments >= m.warmup);
    const fit = linearFit(after.map((s) => s.segments), after.map((s) => s.rss));
    const span = m.segments - (after[0]?.segments ?? 0);
    const startRss = after[0]?.rss;
    const growth = fit.slope * span;
    const res = {
      segments: m.segments,
      mediaMinutes: (m.segments * 2) / 60,
      wallSec,
      warmupSegments: m.warmup,
      rssAfterWarmupMb: startRss / 2 ** 20,
      rssEndMb: samples.at(-1).rss / 2 ** 20,
      rssMaxMb: Math.max(...samples.map((s) => s.rss)) / 2 ** 20,
      slopeKbPer100Segments: (fit.slope * 100) / 1024,
      fittedGrowthMb: growth / 2 ** 20,
      fittedGrowthPct: (growth / startRss) * 100,
      flat: growth / startRss <= 0.05,
      samples: samples.map((s) => ({ segments: s.segments, rssMb: Number((s.rss / 2 ** 20).toFixed(2)) })),
    };
    ctx.log(`memory: worker RSS ${res.rssAfterWarmupMb.toFixed(1)} -> ${res.rssEndMb.toFixed(1)} MB over ${m.segments} segments, fitted growth ${res.fittedGrowthMb.toFixed(2)} MB`);
    return res;
  } finally {
    out.stop();
    await worker.stop();
  }
}
