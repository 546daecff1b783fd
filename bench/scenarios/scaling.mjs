// Scenario 4: one heavy stage (transcode 720p -> 480p) at 1, 2 and 4 replicas. A backlog of
// segments lands on the stage at once; throughput = media seconds / wall seconds until the last
// output, lag = the stage consumer's pending + unacked segments, sampled while it drains. Baseline:
// the same per-segment ffmpeg runs, 1, 2 and 4 at a time, with no bus.
import { collectOutputs, consumerLag, deleteChain, publishHop0, putChain, THROUGHPUT_BUDGET_MS, startWorker } from '../lib/mesh.mjs';
import { sleep } from '../lib/proc.mjs';
import { transcodeArgs, pool, runStageFfmpeg } from '../lib/work.mjs';

export async function scaling(ctx) {
  const { cfg, bus, nats, media } = ctx;
  const segments = Array.from({ length: cfg.s4.segments }, (_, i) => media.segments[i % media.segments.length]);
  const seconds = segments.reduce((a, s) => a + s.duration, 0);
  const out = collectOutputs(bus);
  const rows = [];
  try {
    for (const replicas of cfg.s4.replicas) {
      // Baseline: `replicas` ffmpeg runs at a time, no bus.
      const b0 = performance.now();
      await pool(segments, replicas, (s) => runStageFfmpeg(transcodeArgs(), s.data));
      const baseWall = (performance.now() - b0) / 1000;

      const workers = [];
      try {
        for (let r = 0; r < replicas; r++) workers.push(await startWorker(nats.url, 'transcode', `bench-s4-tc-${r}`));
        const streamId = `s4-R${replicas}-${Date.now() % 1e6}`;
        const chain = await putChain(bus, streamId, [{ service: 'transcode', params: { width: 854, height: 480 } }], { latencyBudgetMs: THROUGHPUT_BUDGET_MS });
        const lag = [];
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const t = performance.now();
            lag.push({ t, lag: await consumerLag(bus, 'transcode').catch(() => undefined) });
            await sleep(250);
          }
        })();
        const t0 = performance.now();
        for (const [i, s] of segments.entries()) await publishHop0(bus, chain, i, s.data, { duration: s.duration });
        await out.until(() => out.of(streamId).size === segments.length, 600_000, `outputs of ${streamId}`);
        const arrivals = [...out.of(streamId).values()].map((a) => a.at);
        const wall = (Math.max(...arrivals) - t0) / 1000;
        sampling = false;
        await sampler;
        await deleteChain(bus, streamId);
        const lags = lag.filter((l) => l.lag !== undefined && l.t >= t0).map((l) => l.lag);
        rows.push({
          replicas,
          livemesh: { wallSec: wall, xRealtime: seconds / wall, maxLag: Math.max(...lags), meanLag: lags.reduce((a, b) => a + b, 0) / lags.length, lagSamples: lag.map((l) => ({ tMs: Math.round(l.t - t0), lag: l.lag })) },
          baseline: { wallSec: baseWall, xRealtime: seconds / baseWall },
        });
        ctx.log(`s4 R=${replicas}: livemesh ${(seconds / wall).toFixed(2)}x, no bus ${(seconds / baseWall).toFixed(2)}x, max lag ${Math.max(...lags)}`);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
  } finally {
    out.stop();
  }
  return { stage: 'transcode 1280x720 -> 854x480, 1200 kb/s, veryfast', segments: segments.length, mediaSeconds: seconds, rows };
}
