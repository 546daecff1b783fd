// Scenario 5: start-up. A platform's stream-start event goes onto lm.evt.platform.stream.started;
// the real orchestrator (process runtime) plans the default chain, makes sure its workers run and
// announces chain-ready. The bench stands in for ingest: the first 2 s segment is cut 2 s after
// the start (as a publisher that starts with the event would deliver it) and goes onto hop 0 as
// soon as both that time has come and the chain is there. Measured: the event -> the first
// segment on lm.out. Cold = the orchestrator has no worker of the chain's services yet (it starts
// them); warm = they are running from an earlier stream. The orchestrator fuses the default chain
// into one hop, so it starts (and a warm start finds) one watermark worker, whose engine stays
// warm between streams; each start records which workers ran before it and which it started, so
// a "warm" start that had to start a worker shows. Baselines: the first segment's duration plus,
// with no bus, the fused hop's work as one ffmpeg run, and the old two stages' two ffmpeg runs.
import { readFileSync } from 'node:fs';
import { mkdtemp as mkdtempP, rm as rmP } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subjects } from '@livemesh/contracts';
import { publishJson } from '@livemesh/bus';
import { ORCHESTRATOR_MAIN, ROOT, collectOutputs, freePort, publishHop0 } from '../lib/mesh.mjs';
import { childrenOf, descendantsOf, sleep, startChild, waitFor } from '../lib/proc.mjs';
import { summary } from '../lib/stats.mjs';
import { fusedChainArgs, runStageFfmpeg, transcodeArgs, watermarkArgs, watermarkTextFile } from '../lib/work.mjs';


/** The orchestrator's worker replicas: pid, the service it hosts, and its live lm-engine processes. */
function meshWorkers(orchPid) {
  const read = (pid, what) => {
    try {
      return readFileSync(`/proc/${pid}/${what}`, 'utf8');
    } catch {
      return '';
    }
  };
  return childrenOf(orchPid).map((pid) => ({
    pid,
    service: /(?:^|\0)LIVEMESH_SERVICE=([^\0]*)/.exec(read(pid, 'environ'))?.[1],
    engines: descendantsOf(pid).filter((p) => read(p, 'comm').trim() === 'lm-engine').length,
  })).filter((w) => w.service);
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
async function oneStart(ctx, out, segment, label, orch) {
  const { bus } = ctx;
  const workersBefore = meshWorkers(orch.pid);
  const streamId = `s5-${label}-${Date.now() % 1e6}`;
  const readySub = bus.subscribe(subjects.streamEvent(streamId, 'chain-ready'), { max: 1 });
  const failSub = bus.subscribe(subjects.streamEvent(streamId, 'failed'), { max: 1 });
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
  const workersAfter = meshWorkers(orch.pid);
  await publishJson(bus, subjects.platformStopped, { id: streamId });
  readySub.unsubscribe();
  failSub.unsubscribe();
  // The services whose workers receive this chain's segments (a hop fused into another has none).
  const needed = [...new Set(hops.filter((h) => h.fusedInto === undefined).map((h) => h.service))];
  const before = new Set(workersBefore.map((w) => w.pid));
  const started = workersAfter.filter((w) => !before.has(w.pid)).map((w) => w.service);
  return {
    streamId,
    chainReadyMs: r.at - t0,
    firstOutputMs: firstOutMs,
    segmentSeconds: segment.duration,
    hops: hops.map((h) => ({ service: h.service, fusedThrough: h.fusedThrough, fusedInto: h.fusedInto })),
    neededServices: needed,
    workersBefore,
    workersAfter,
    startedServices: started,
    // Every needed service had a worker before the event and none had to be started.
    allWarm: started.length === 0 && needed.every((n) => workersBefore.some((w) => w.service === n)),
  };
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
        const c = await oneStart(ctx, out, segment, `cold${i}`, orch);
        cold.push(c);
        ctx.log(`s5 cold ${i}: chain-ready ${Math.round(c.chainReadyMs)} ms, first output ${Math.round(c.firstOutputMs)} ms; hops ${c.hops.map((h) => h.service + (h.fusedInto !== undefined ? ` (fused into ${h.fusedInto})` : '')).join(' -> ')}; started ${c.startedServices.join(', ') || 'nothing'}`);
        // The workers this start brought up stay (IDLE_GRACE_SECONDS) for the warm starts.
        if (i === cfg.s5.cold - 1) {
          for (let j = 0; j < cfg.s5.warm; j++) {
            const w = await oneStart(ctx, out, segment, `warm${j}`, orch);
            warm.push(w);
            ctx.log(`s5 warm ${j}: chain-ready ${Math.round(w.chainReadyMs)} ms, first output ${Math.round(w.firstOutputMs)} ms; workers before: ${w.workersBefore.map((x) => `${x.service} (${x.engines} lm-engine)`).join(', ') || 'none'}${w.allWarm ? '' : `; NOT warm: started ${w.startedServices.join(', ') || 'nothing'}, needed ${w.neededServices.join(', ')}`}`);
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
  // Baselines: wait for the first segment to be cut, then, with no bus, the fused hop's work as one
  // ffmpeg run (both filters, one encode), and the two stages' ffmpeg runs one after the other.
  const dir = await mkdtempP(join(tmpdir(), 'livemesh-bench-s5b-'));
  const baseline = [];
  const baselineTwoRuns = [];
  try {
    const textFile = await watermarkTextFile(dir);
    for (let i = 0; i < Math.max(cfg.s5.warm, 1); i++) {
      const t0 = performance.now();
      await sleep(segment.duration * 1000);
      await runStageFfmpeg(fusedChainArgs(textFile), segment.data);
      baseline.push({ firstOutputMs: performance.now() - t0 });
      const t1 = performance.now();
      await sleep(segment.duration * 1000);
      const a = await runStageFfmpeg(watermarkArgs(textFile), segment.data);
      await runStageFfmpeg(transcodeArgs(), a);
      baselineTwoRuns.push({ firstOutputMs: performance.now() - t1 });
    }
  } finally {
    await rmP(dir, { recursive: true, force: true });
  }
  return {
    chain: 'default (watermark + transcode 480p, fused by the orchestrator), orchestrator with the process runtime',
    segmentSeconds: segment.duration,
    targetMs: segment.duration * 1000 + 1000,
    cold: { firstOutputMs: summary(cold.map((c) => c.firstOutputMs)), chainReadyMs: summary(cold.map((c) => c.chainReadyMs)), raw: cold },
    warm: { firstOutputMs: summary(warm.map((c) => c.firstOutputMs)), chainReadyMs: summary(warm.map((c) => c.chainReadyMs)), allWarm: warm.every((w) => w.allWarm), workersBefore: warm[0]?.workersBefore, raw: warm },
    coldStarted: [...new Set(cold.flatMap((c) => c.startedServices))],
    baseline: { firstOutputMs: summary(baseline.map((b) => b.firstOutputMs)), raw: baseline },
    baselineTwoRuns: { firstOutputMs: summary(baselineTwoRuns.map((b) => b.firstOutputMs)), raw: baselineTwoRuns },
  };
}
