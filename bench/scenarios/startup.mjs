// Scenario 5: start-up. A platform's stream-start event goes onto lm.evt.platform.stream.started;
// the real orchestrator (process runtime) plans the default chain, makes sure its workers run and
// announces chain-ready. The bench stands in for ingest: the first 2 s segment is cut 2 s after
// the start (as a publisher that starts with the event would deliver it) and goes onto hop 0 as
// soon as both that time has come and the chain is there. Measured: the event -> the first
// segment on lm.out. Cold = the orchestrator has no worker of the chain's services yet (it starts
// them); warm = they are running from an earlier stream. Baseline: the first segment's duration
// plus the same two ffmpeg runs on it with no bus.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp as mkdtempP, rm as rmP } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subjects } from '@livemesh/contracts';
import { publishJson } from '@livemesh/bus';
import { ORCHESTRATOR_MAIN, ROOT, collectOutputs, freePort, publishHop0 } from '../lib/mesh.mjs';
import { sleep, startChild, waitFor } from '../lib/proc.mjs';
import { summary } from '../lib/stats.mjs';
import { runStageFfmpeg, transcodeArgs, watermarkArgs, watermarkTextFile } from '../lib/work.mjs';


/** Pids of the processes whose parent is `pid` (the orchestrator's worker replicas). */
function childrenOf(pid) {
  const kids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return kids;
}

async function startOrchestrator(natsUrl, dataDir) {
  const port = await freePort();
  const orch = startChild('orchestrator', process.execPath, [ORCHESTRATOR_MAIN], {
    cwd: ROOT,
    env: { NATS_URL: natsUrl, HTTP_PORT: String(port), LIVEMESH_RUNTIME: 'process', LIVEMESH_DATA_DIR: dataDir, IDLE_GRACE_SECONDS: '600', NO_COLOR: '1' },
  });
  await waitFor(async () => {
    if (orch.child.exitCode !== null) throw new Error(`orchestrator exited:\n${orch.tail(30)}`);
    return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
  }, 60_000, 'the orchestrator to be healthy', 100);
  return orch;
}

async function stopOrchestrator(orch) {
  const workers = childrenOf(orch.pid);
  await orch.stop(20_000);
  // Workers lead their own process groups; the orchestrator stops them, but none may outlive it.
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** One stream start: event -> first output. */
async function oneStart(ctx, out, segment, label) {
  const { bus } = ctx;
  const streamId = `s5-${label}-${Date.now() % 1e6}`;
  const readySub = bus.nc.subscribe(subjects.streamEvent(streamId, 'chain-ready'), { max: 1 });
  const failSub = bus.nc.subscribe(subjects.streamEvent(streamId, 'failed'), { max: 1 });
  const ready = (async () => {
    for await (const m of readySub) return { at: performance.now(), event: JSON.parse(new TextDecoder().decode(m.data)) };
  })();
  const failed = (async () => {
    for await (const m of failSub) throw new Error(`stream ${streamId} failed: ${new TextDecoder().decode(m.data)}`);
  })();
  failed.catch(() => undefined);
  const t0 = performance.now();
  const wall0 = Date.now();
  await publishJson(bus, subjects.platformStarted, { id: streamId });
  const r = await Promise.race([ready, failed, sleep(60_000).then(() => { throw new Error(`no chain-ready for ${streamId} within 60 s`); })]);
  const version = r.event.data.version;
  const hops = r.event.data.hops;
  const cutAt = t0 + segment.duration * 1000;
  if (performance.now() < cutAt) await sleep(cutAt - performance.now());
  const chain = { streamId, version, hops };
  await publishHop0(bus, chain, 0, segment.data, { duration: segment.duration, ingestTime: wall0 + Math.round(segment.duration * 1000) });
  await out.until(() => out.of(streamId).has(0), 120_000, `first output of ${streamId}`);
  const firstOutMs = out.of(streamId).get(0).at - t0;
  await publishJson(bus, subjects.platformStopped, { id: streamId });
  readySub.unsubscribe();
  failSub.unsubscribe();
  return { streamId, chainReadyMs: r.at - t0, firstOutputMs: firstOutMs, segmentSeconds: segment.duration };
}

export async function startup(ctx) {
  const { cfg, nats, media } = ctx;
  const segment = media.segments[0];
  const out = collectOutputs(ctx.bus);
  const dataDir = await mkdtempP(join(tmpdir(), 'livemesh-bench-s5-'));
  const cold = [];
  const warm = [];
  try {
    for (let i = 0; i < cfg.s5.cold; i++) {
      const orch = await startOrchestrator(nats.url, dataDir);
      try {
        const c = await oneStart(ctx, out, segment, `cold${i}`);
        cold.push(c);
        ctx.log(`s5 cold ${i}: chain-ready ${Math.round(c.chainReadyMs)} ms, first output ${Math.round(c.firstOutputMs)} ms`);
        // The workers this start brought up stay (IDLE_GRACE_SECONDS) for the warm starts.
        if (i === cfg.s5.cold - 1) {
          for (let j = 0; j < cfg.s5.warm; j++) {
            const w = await oneStart(ctx, out, segment, `warm${j}`);
            warm.push(w);
            ctx.log(`s5 warm ${j}: chain-ready ${Math.round(w.chainReadyMs)} ms, first output ${Math.round(w.firstOutputMs)} ms`);
          }
        }
      } finally {
        await stopOrchestrator(orch);
      }
    }
  } finally {
    out.stop();
    await rmP(dataDir, { recursive: true, force: true });
  }
  // Baseline: wait for the first segment to be cut, then the same two stages' ffmpeg runs, no bus.
  const dir = await mkdtempP(join(tmpdir(), 'livemesh-bench-s5b-'));
  const baseline = [];
  try {
    const textFile = await watermarkTextFile(dir);
    for (let i = 0; i < Math.max(cfg.s5.warm, 1); i++) {
      const t0 = performance.now();
      await sleep(segment.duration * 1000);
      const a = await runStageFfmpeg(watermarkArgs(textFile), segment.data);
      await runStageFfmpeg(transcodeArgs(), a);
      baseline.push({ firstOutputMs: performance.now() - t0 });
    }
  } finally {
    await rmP(dir, { recursive: true, force: true });
  }
  return {
    chain: 'default (watermark + transcode 480p), orchestrator with the process runtime',
    segmentSeconds: segment.duration,
    targetMs: segment.duration * 1000 + 1000,
    cold: { firstOutputMs: summary(cold.map((c) => c.firstOutputMs)), chainReadyMs: summary(cold.map((c) => c.chainReadyMs)), raw: cold },
    warm: { firstOutputMs: summary(warm.map((c) => c.firstOutputMs)), chainReadyMs: summary(warm.map((c) => c.chainReadyMs)), raw: warm },
    baseline: { firstOutputMs: summary(baseline.map((b) => b.firstOutputMs)), raw: baseline },
  };
}
