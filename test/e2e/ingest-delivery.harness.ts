// Shared by the ingest-* and delivery-* end-to-end tests: a real nats-server, ingest and delivery
// in-process on free ports, and a one-hop chain whose stage is this harness itself (it moves each
// hop-0 segment unchanged onto the output subject, as the passthrough service would), so a test
// sees exactly what ingest cut, through delivery's HLS. Streams are written into KV the way the
// orchestrator writes them. Publishers and sources are real ffmpeg processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import {
  Bus,
  ensureServiceConsumer,
  ensureTopology,
  publishSegment,
  publishStreamEvent,
  readSegment,
  releaseSegmentBlob,
  type BusConsumer,
  type ConsumedMsg,
  type MessageFeed,
} from '@livemesh/bus';
import {
  BUCKETS,
  DEFAULT_RENDITION,
  STREAMS,
  loadEnv,
  subjects,
  type StreamEvent,
  type StreamEventOf,
  type StreamRecord,
  hashStreamKey,
  sealSecret,
  srtPassphraseAad,
} from '@livemesh/contracts';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { createIngestApp } from '../../apps/ingest/src/ingest.app.js';
import { freePort } from '../support/free-port.js';
import { CapturingLogger } from '../support/logger.js';
import type { HlsProbe, ProbedSegment } from '../support/media.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { requireExecutable } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { ALLOW_LOOPBACK_SOURCES } from '../support/outbound.js';

export const STAGE = 'passthrough';

export interface Ffmpeg {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/** Runs ffmpeg (argument array, no shell) with a wall-clock limit. */
export function ffmpeg(args: string[], timeoutMs = 60_000): Ffmpeg {
  const child = spawn(requireExecutable('ffmpeg', 'ffmpeg'), ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  return { child, done, kill: () => child.kill('SIGTERM') };
}

export interface Harness {
  nats: NatsServer;
  bus: Bus;
  dir: string;
  rtmpPort: number;
  deliveryBase: string;
  /** Both apps' log lines: Nest's logger override is process-wide. */
  logs: CapturingLogger;
  ingest: INestApplication;
  delivery: INestApplication;
  /** Writes the stream's record (live), key and one-hop chain. */
  addStream(id: string, opts?: { key?: string; source?: string; outputs?: { rtmp: string[] } }): Promise<{ key: string }>;
  /** What the orchestrator does on stop: key gone, 'ended' event, record ended. */
  endStream(id: string): Promise<void>;
  hls(id: string): string;
  /** The newest status event of `kind` of the stream stored after LM_EVT sequence `after`. */
  eventAfter<K extends StreamEvent['kind']>(id: string, kind: K, after: number, timeoutMs: number): Promise<{ seq: number; event: StreamEventOf<K> }>;
  lastEventSeq(id: string, kind: StreamEvent['kind']): Promise<number>;
  stop(): Promise<void>;
}

export async function startHarness(extraEnv: Record<string, string> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-harness-'));
  const nats = await startNatsServer();
  const bus = await Bus.connect({ url: nats.url, name: 'harness' });
  const [rtmpPort, ingestPort, deliveryPort] = [await freePort(), await freePort(), await freePort()];
  const env = loadEnv({
    NATS_URL: nats.url,
    RTMP_PORT: String(rtmpPort),
    INGEST_HTTP_PORT: String(ingestPort),
    DELIVERY_PORT: String(deliveryPort),
    LIVEMESH_DATA_DIR: join(dir, 'data'),
    HLS_WINDOW: '30',
    OUTPUT_RETENTION_SECONDS: '120',
    LOG_LEVEL: 'debug',
    // What the orchestrator seals SRT passphrases with (docs/security.md, "Stream keys").
    LIVEMESH_INGEST_SECRET: randomBytes(32).toString('hex'),
    // Boot lines go to the console until the capturing logger takes over; keep them few.
    ...ALLOW_LOOPBACK_SOURCES,
    ...extraEnv,
  });
  await ensureTopology(bus, { outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS });
  const stage = await ensureServiceConsumer(bus, STAGE, { ackWaitMs: 30_000, maxDeliver: 3 });
  const logs = new CapturingLogger();
  const ingest = await createIngestApp(env);
  ingest.useLogger(logs);
  await ingest.listen(ingestPort, '127.0.0.1');
  const delivery = await createDeliveryApp(env);
  delivery.useLogger(logs);
  await delivery.listen(deliveryPort, '127.0.0.1');
  const bridge = runStage(bus, stage, env.INLINE_LIMIT_BYTES);

  const records = bus.store(BUCKETS.streams);
  const keys = bus.store(BUCKETS.keys);
  const chains = bus.store(BUCKETS.chains);
  const deliveryBase = `http://127.0.0.1:${deliveryPort}`;

  const lastEventSeq = async (id: string, kind: StreamEvent['kind']): Promise<number> => {
    try {
      return (await bus.getMessage(STREAMS.events, { lastBySubject: subjects.streamEvent(id, kind) }))?.seq ?? 0;
    } catch {
      return 0;
    }
  };

  return {
    nats,
    bus,
    dir,
    rtmpPort,
    deliveryBase,
    logs,
    ingest,
    delivery,
    async addStream(id, opts = {}) {
      const key = opts.key ?? `key-${id}-${Math.random().toString(36).slice(2, 14)}`;
      const now = new Date().toISOString();
      const request = { id, ...(opts.source ? { source: { url: opts.source } } : {}), ...(opts.outputs ? { outputs: opts.outputs } : {}) };
      await chains.put(id, {
        streamId: id,
        version: 1,
        hops: [{ index: 0, service: STAGE, params: {}, subject: subjects.segment(STAGE, id, 0), next: null }],
        updatedAt: now,
      });
      const keyHash = hashStreamKey(key);
      const srtPassphrase = sealSecret(Buffer.from(env.LIVEMESH_INGEST_SECRET, 'hex'), key, srtPassphraseAad(id, keyHash));
      await keys.put(keyHash, { streamId: id });
      await records.put(id, { id, state: 'live', keyHash, ...(opts.source ? {} : { srtPassphrase }), request, chainVersion: 1, createdAt: now, updatedAt: now, errors: [] } as StreamRecord);
      return { key };
    },
    async endStream(id) {
      const r = await records.get(id);
      if (r) await keys.delete(r.value.keyHash);
      await publishStreamEvent(bus, { streamId: id, kind: 'ended', message: 'stream ended', data: { reason: 'stopped', purgedSegments: 0 } });
      if (r) await records.put(id, { ...r.value, state: 'ended', updatedAt: new Date().toISOString() });
    },
    hls: (id) => `${deliveryBase}/hls/${id}/index.m3u8`,
    lastEventSeq,
    eventAfter<K extends StreamEvent['kind']>(id: string, kind: K, after: number, timeoutMs: number) {
      return waitFor(`a '${kind}' event of ${id}`, timeoutMs, async () => {
        const m = await bus.getMessage(STREAMS.events, { lastBySubject: subjects.streamEvent(id, kind) });
        return m && m.seq > after ? { seq: m.seq, event: m.json<StreamEventOf<K>>() } : undefined;
      }, { retryErrors: true });
    },
    async stop() {
      await ingest.close().catch(() => undefined);
      await delivery.close().catch(() => undefined);
      await bridge.stop();
      await bus.close();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The one-hop chain's stage: hop-0 segments onto `lm.out.<id>.main`, unchanged. */
function runStage(bus: Bus, consumer: BusConsumer, inlineLimit: number): { stop(): Promise<void> } {
  let messages: MessageFeed<ConsumedMsg> | undefined;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        messages = await consumer.consume({ maxMessages: 16 });
        for await (const msg of messages) {
          const seg = await readSegment(bus, msg);
          await publishSegment(bus, subjects.output(seg.meta.streamId, DEFAULT_RENDITION), { meta: { ...seg.meta, hop: 1 }, data: seg.data }, { inlineLimit, kind: 'out' });
          msg.ack();
          await releaseSegmentBlob(bus, seg.meta);
        }
      } catch {
        if (!stopped) await new Promise((r) => setTimeout(r, 200));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await messages?.close().catch(() => undefined);
      await loop;
    },
  };
}

/** The probed playlist cut at each EXT-X-DISCONTINUITY, each part on its own (for assertContinuous). */
export function splitAtDiscontinuities(p: HlsProbe): HlsProbe[] {
  const parts: ProbedSegment[][] = [[]];
  for (const s of p.segments) {
    if (s.discontinuityBefore && parts.at(-1)!.length > 0) parts.push([]);
    parts.at(-1)!.push(s);
  }
  return parts.map((segments) => ({ ...p, segments, discontinuity: false }));
}

export const segmentUris = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
