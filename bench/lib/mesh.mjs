// The pieces of a mesh the scenarios assemble: a real nats-server, real worker processes (the
// built apps/worker, one per replica, as the process runtime starts them), chain specs planned and
// built by the orchestrator's own planner (apps/orchestrator/dist) and written to the lm_chains
// bucket as the orchestrator writes them, and a publisher/collector that stands in for ingest
// (publishing hop 0) and delivery (reading lm.out).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, SEGMENT_HEADERS, STREAMS, consumers, executingHops, subjects } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, readSegment, releaseSegmentBlob } from '@livemesh/bus';
import { BUILT_IN_SERVICES, DEFAULT_PIPELINE } from '@livemesh/services';
import { buildChainSpec, fusionGroups, planChain } from '../../apps/orchestrator/dist/planner/chain.planner.js';
import { startChild, waitFor } from './proc.mjs';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const WORKER_MAIN = join(ROOT, 'apps', 'worker', 'dist', 'main.js');
export const ORCHESTRATOR_MAIN = join(ROOT, 'apps', 'orchestrator', 'dist', 'main.js');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * nats-server with JetStream on a free loopback port. max_payload is raised to 8 MB so that the
 * "inline" runs of scenario 1 can carry 4 MB segments in the message itself; livemesh's default
 * (INLINE_LIMIT_BYTES 900 KiB under the server's default 1 MiB) is what the other scenarios use.
 */
export async function startNats() {
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, `listen: "127.0.0.1:${port}"\nmax_payload: 8MB\njetstream { store_dir: "${join(dir, 'js')}" }\n`);
  const proc = startChild('nats-server', 'nats-server', ['-c', conf]);
  await proc.waitForLine(/Server is ready/, 20_000);
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: proc.pid,
    async stop() {
      await proc.stop(5_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The bench's own connection, with the topology every livemesh process sets up at boot. */
export async function connectBus(url) {
  const bus = await Bus.connect({ url, name: 'bench' });
  await ensureTopology(bus, { outputRetentionSeconds: 600 });
  return bus;
}

/**
 * One worker process (`node apps/worker/dist/main.js`) hosting `service`, resolved when it has
 * subscribed to its durable consumer. `env` adds worker settings (STAGE_CONCURRENCY,
 * STAGE_ENGINE=warm|cli|auto, ...); what is not given comes from the bench's own environment.
 * `engine` is the media engine the worker says it opened ('warm' or 'cli').
 */
export async function startWorker(natsUrl, service, id, env = {}) {
  const w = startChild(`worker:${id}`, process.execPath, [WORKER_MAIN], {
    cwd: ROOT,
    env: { NATS_URL: natsUrl, LIVEMESH_SERVICE: service, LIVEMESH_WORKER_ID: id, NO_COLOR: '1', ...env },
  });
  const line = await w.waitForLine(/consuming lm\.seg\./, 60_000);
  w.engine = /\b(warm|cli) media engine\b/.exec(line)?.[1] ?? 'unknown';
  if (env.STAGE_ENGINE && env.STAGE_ENGINE !== 'auto' && w.engine !== env.STAGE_ENGINE) {
    await w.stop();
    throw new Error(`worker ${id} asked for the ${env.STAGE_ENGINE} engine and opened ${w.engine}: ${line}`);
  }
  return w;
}

/** The built-in services' specs, as the orchestrator seeds them into its catalogue. */
const CATALOGUE = { services: new Map(BUILT_IN_SERVICES.map((b) => [b.spec.name, b.spec])), pipelines: [DEFAULT_PIPELINE] };

/**
 * The default pipeline as the orchestrator plans it (parameters complete, fused unless
 * `fuse: false`): { stages, fused }.
 */
export function planDefaultChain({ fuse = true } = {}) {
  const plan = planChain({ id: 'bench', fuse }, CATALOGUE);
  return { stages: plan.stages, fused: plan.fused };
}

/**
 * Latency budget for scenarios that measure throughput: they queue a whole clip at once, which
 * no live stream does, so the default budget (3 segment durations) would drop most of it unworked.
 * The live-paced scenario (density) keeps the default and counts a late drop as a miss.
 */
export const THROUGHPUT_BUDGET_MS = 600_000;

/**
 * Writes a chain spec (what the orchestrator stores in lm_chains) for `stages` in order, built by
 * the orchestrator's buildChainSpec. `fused`: groups of adjacent stage indices run as one hop
 * (as planChain returns them), or `true` for the groups the planner would fuse, or none.
 * `latencyBudgetMs`: the stream's budget (default: the runner's, 3 segment durations).
 */
export async function putChain(bus, streamId, stages, { fused = [], version = 1, latencyBudgetMs } = {}) {
  const withParams = stages.map((s) => ({ service: s.service, params: s.params ?? {} }));
  const groups = fused === true ? fusionGroups(withParams, CATALOGUE.services) : fused;
  const chain = buildChainSpec(streamId, version, withParams, groups, new Date(), latencyBudgetMs === undefined ? {} : { latencyBudgetMs });
  await bus.store(BUCKETS.chains).put(streamId, chain);
  return chain;
}

/**
 * The services that need a worker for a chain of `stages` with `fused` groups: those of the hops
 * that receive segments (a stage fused into an earlier hop runs in that hop's worker), in order.
 */
export function servicesToRun(stages, fused = []) {
  const chain = buildChainSpec('bench', 1, stages.map((s) => ({ service: s.service, params: s.params ?? {} })), fused);
  return [...new Set(executingHops(chain).map((h) => h.service))];
}

export async function deleteChain(bus, streamId) {
  await bus.store(BUCKETS.chains).delete(streamId).catch(() => undefined);
}

/** Publishes one segment onto hop 0 as ingest does (claim check above `inlineLimit`). */
export async function publishHop0(bus, chain, seq, data, { duration = 2, ingestTime = Date.now(), inlineLimit = 900 * 1024 } = {}) {
  const meta = {
    streamId: chain.streamId,
    seq,
    hop: 0,
    rendition: 'main',
    pts: seq * duration,
    duration,
    ingestTime,
    epoch: 0,
    chainVersion: chain.version,
  };
  await publishSegment(bus, chain.hops[0].subject, { meta, data }, { inlineLimit });
}

/**
 * Listens on `lm.out.>` and records, per stream and seq, when a finished segment arrived and was
 * read (blob fetched when claim-checked), as a delivery would see it; the bytes themselves only
 * for the streams `keepData(streamId)` names (a quality check reads them).
 */
export function collectOutputs(bus, { keepData = () => false } = {}) {
  const arrivals = new Map(); // streamId -> Map(seq -> { at, bytes, ingestTime, duration })
  const gaps = new Map(); // streamId -> Set(seq) a hop dropped as late (gap markers): never arrivals
  const waiters = new Set();
  const sub = bus.subscribe(subjects.allOutput);
  void (async () => {
    for await (const msg of sub) {
      try {
        if (msg.headers?.has(SEGMENT_HEADERS.gap)) {
          const id = msg.headers.get(SEGMENT_HEADERS.streamId);
          if (!gaps.has(id)) gaps.set(id, new Set());
          gaps.get(id).add(Number(msg.headers.get(SEGMENT_HEADERS.seq)));
          continue;
        }
        const seg = await readSegment(bus, msg);
        const at = performance.now();
        const wall = Date.now();
        if (seg.meta.blob) void releaseSegmentBlob(bus, seg.meta);
        let m = arrivals.get(seg.meta.streamId);
        if (!m) arrivals.set(seg.meta.streamId, (m = new Map()));
        if (!m.has(seg.meta.seq)) m.set(seg.meta.seq, { at, wall, bytes: seg.data.byteLength, ingestTime: seg.meta.ingestTime, duration: seg.meta.duration, data: keepData(seg.meta.streamId) ? seg.data : undefined });
        for (const w of waiters) if (w.check()) { waiters.delete(w); w.resolve(); }
      } catch (e) {
        process.stderr.write(`bench: unreadable output on ${msg.subject}: ${e.message}\n`);
      }
    }
  })();
  return {
    arrivals,
    of: (streamId) => arrivals.get(streamId) ?? new Map(),
    /** Seqs of `streamId` dropped as late before any work (gap markers). */
    gapsOf: (streamId) => gaps.get(streamId) ?? new Set(),
    /** Resolves once `check()` holds (re-checked on every arrival), rejects after timeoutMs. */
    until(check, timeoutMs, what) {
      if (check()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { check, resolve: () => { clearTimeout(t); resolve(); } };
        const t = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
        waiters.add(w);
      });
    },
    stop: () => sub.unsubscribe(),
  };
}

/** Pending + unacked segments of a service's durable consumer (its lag). */
export async function consumerLag(bus, service) {
  const info = await bus.consumerInfo(STREAMS.segments, consumers.service(service));
  return info.pending + info.ackPending;
}

export { waitFor };
