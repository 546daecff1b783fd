// The pieces of a mesh the scenarios assemble: a real nats-server, real worker processes (the
// built apps/worker, one per replica, as the process runtime starts them), chain specs written to
// the lm_chains bucket as the orchestrator writes them, and a publisher/collector that stands in
// for ingest (publishing hop 0) and delivery (reading lm.out).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUCKETS, subjects } from '@livemesh/contracts';
import { Bus, JsonStore, ensureTopology, publishSegment, readSegment, releaseSegmentBlob } from '@livemesh/bus';
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
 * subscribed to its durable consumer. `env` adds worker settings (STAGE_CONCURRENCY, ...).
 */
export async function startWorker(natsUrl, service, id, env = {}) {
  const w = startChild(`worker:${id}`, process.execPath, [WORKER_MAIN], {
    cwd: ROOT,
    env: { NATS_URL: natsUrl, LIVEMESH_SERVICE: service, LIVEMESH_WORKER_ID: id, NO_COLOR: '1', ...env },
  });
  await w.waitForLine(/consuming lm\.seg\./, 60_000);
  return w;
}

/** Writes a chain spec (what the orchestrator stores in lm_chains) for `services` in order. */
export async function putChain(bus, streamId, stages, version = 1) {
  const hops = stages.map((s, index) => ({
    index,
    service: s.service,
    params: s.params ?? {},
    subject: subjects.segment(s.service, streamId, index),
    next: index + 1 < stages.length ? subjects.segment(stages[index + 1].service, streamId, index + 1) : null,
  }));
  const chain = { streamId, version, hops, updatedAt: new Date().toISOString() };
  await new JsonStore(bus, BUCKETS.chains).put(streamId, chain);
  return chain;
}

export async function deleteChain(bus, streamId) {
  await new JsonStore(bus, BUCKETS.chains).delete(streamId).catch(() => undefined);
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
 * read (blob fetched when claim-checked), as a delivery would see it.
 */
export function collectOutputs(bus) {
  const arrivals = new Map(); // streamId -> Map(seq -> { at, bytes, ingestTime, duration })
  const waiters = new Set();
  const sub = bus.nc.subscribe(subjects.allOutput);
  void (async () => {
    for await (const msg of sub) {
      try {
        const seg = await readSegment(bus, msg);
        const at = performance.now();
        const wall = Date.now();
        if (seg.meta.blob) void releaseSegmentBlob(bus, seg.meta);
        let m = arrivals.get(seg.meta.streamId);
        if (!m) arrivals.set(seg.meta.streamId, (m = new Map()));
        if (!m.has(seg.meta.seq)) m.set(seg.meta.seq, { at, wall, bytes: seg.data.byteLength, ingestTime: seg.meta.ingestTime, duration: seg.meta.duration });
        for (const w of waiters) if (w.check()) { waiters.delete(w); w.resolve(); }
      } catch (e) {
        process.stderr.write(`bench: unreadable output on ${msg.subject}: ${e.message}\n`);
      }
    }
  })();
  return {
    arrivals,
    of: (streamId) => arrivals.get(streamId) ?? new Map(),
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
  const info = await bus.jsm.consumers.info('LM_SEG', `svc_${service}`);
  return info.num_pending + info.num_ack_pending;
}

export { waitFor };
