// Ingest end to end: a real nats-server, the ingest app in-process (node-media-server on a free
// port), a real ffmpeg publisher pushing a generated clip over RTMP, and a consumer on hop 0 of the
// stream's chain that checks what a chain needs: ordered seqs, valid MPEG-TS, ~2 s segments, one
// continuous timeline. The stream's state is written into KV the way the orchestrator writes it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Bus, ensureServiceConsumer, ensureTopology, readSegment, type BusConsumer } from '@livemesh/bus';
import {
  BUCKETS,
  STREAMS,
  loadEnv,
  subjects,
  type ChainSpec,
  type Segment,
  type StreamEvent,
  type StreamEventOf,
  type StreamRecord,
  hashStreamKey,
} from '@livemesh/contracts';
import { createIngestApp } from '../../apps/ingest/src/ingest.app.js';
import { freePort } from '../support/free-port.js';
import { CapturingLogger } from '../support/logger.js';
import { ffprobeJson, generateClip, publishRtmp } from '../support/media.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait.js';

const STREAM = 's1';
const SERVICE = 'passthrough';
const KEY = 'k3y-e2e-0123456789abcdef';

/** The latest status event of `kind` stored after stream sequence `after`. */
async function eventAfter<K extends StreamEvent['kind']>(bus: Bus, kind: K, after: number, timeoutMs: number): Promise<{ seq: number; event: StreamEventOf<K> }> {
  return waitFor(`a '${kind}' event`, timeoutMs, async () => {
    try {
      const m = await bus.getMessage(STREAMS.events, { lastBySubject: subjects.streamEvent(STREAM, kind) });
      return m && m.seq > after ? { seq: m.seq, event: m.json<StreamEventOf<K>>() } : undefined;
    } catch {
      return undefined;
    }
  });
}

async function take(consumer: BusConsumer, bus: Bus, count: number): Promise<Segment[]> {
  const segments: Segment[] = [];
  const batch = await consumer.fetch({ maxMessages: count, expiresMs: 3000 });
  for await (const m of batch) {
    segments.push(await readSegment(bus, m));
    m.ack();
    if (segments.length === count) break;
  }
  return segments;
}

describe('ingest over RTMP', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let consumer: BusConsumer;
  let dir: string;
  let clip: string;
  let rtmpPort: number;
  let httpPort: number;
  let firstRun = 0;
  let firstRunEnd = 0;
  const logs = new CapturingLogger();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-ingest-e2e-'));
    nats = await startNatsServer();
    bus = await Bus.connect({ url: nats.url, name: 'ingest-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: 60 });
    const now = new Date().toISOString();
    const record: StreamRecord = { id: STREAM, state: 'live', keyHash: hashStreamKey(KEY), request: { id: STREAM }, chainVersion: 1, createdAt: now, updatedAt: now, errors: [] };
    const chain: ChainSpec = {
      streamId: STREAM,
      version: 1,
      hops: [{ index: 0, service: SERVICE, params: {}, subject: subjects.segment(SERVICE, STREAM, 0), next: null }],
      updatedAt: now,
    };
    await bus.store(BUCKETS.streams).put(STREAM, record);
    await bus.store(BUCKETS.keys).put(hashStreamKey(KEY), { streamId: STREAM });
    await bus.store(BUCKETS.chains).put(STREAM, chain);
    consumer = await ensureServiceConsumer(bus, SERVICE, { ackWaitMs: 30_000, maxDeliver: 3 });

    [rtmpPort, httpPort] = [await freePort(), await freePort()];
    const env = loadEnv({
      NATS_URL: nats.url,
      RTMP_PORT: String(rtmpPort),
      INGEST_HTTP_PORT: String(httpPort),
      LIVEMESH_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'debug',
    });
    [app, clip] = await Promise.all([
      createIngestApp(env),
      generateClip({ seconds: 7, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(dir, 'clip.flv') }),
    ]);
    app.useLogger(logs);
    await app.listen(httpPort, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cuts a published clip into ordered, contiguous ~2 s segments on hop 0', async () => {
    const pushed = await publishRtmp(clip, `rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`, { timeoutMs: 30_000 });
    expect(pushed).toEqual({ code: 0, stderr: '' });

    // The publisher left: ingest flushes the last (shorter) segment, then says publish-ended.
    const { event: ended } = await eventAfter(bus, 'publish-ended', 0, 20_000);
    expect(ended.data).toMatchObject({ source: 'rtmp' });
    const segments = await take(consumer, bus, ended.data?.segments as number);
    expect(segments.length).toBe(ended.data?.segments);
    firstRun = segments.length;
    firstRunEnd = segments.at(-1)!.meta.pts + segments.at(-1)!.meta.duration;
    expect(segments.length).toBeGreaterThanOrEqual(3);

    expect(segments.map((s) => s.meta.seq)).toEqual(segments.map((_, i) => i));
    for (const [i, { meta, data }] of segments.entries()) {
      expect(meta).toMatchObject({ streamId: STREAM, hop: 0, rendition: 'main', epoch: 0, chainVersion: 1 });
      if (i < segments.length - 1) expect(meta.duration).toBeCloseTo(2, 0);
      if (i > 0) {
        const prev = segments[i - 1]!.meta;
        expect(meta.pts).toBeGreaterThan(prev.pts);
        expect(Math.abs(meta.pts - (prev.pts + prev.duration))).toBeLessThan(0.05);
      }
      const file = join(dir, `seg-${meta.seq}.ts`);
      await writeFile(file, data);
      const probed = await ffprobeJson(file);
      expect(probed.format?.format_name).toBe('mpegts');
      expect(probed.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
      expect(probed.streams.some((s) => s.codec_type === 'audio')).toBe(true);
    }
    const total = segments.reduce((sum, s) => sum + s.meta.duration, 0);
    expect(total).toBeGreaterThan(6.5);

    const publishing = await bus.getMessage(STREAMS.events, { lastBySubject: subjects.streamEvent(STREAM, 'publishing') });
    expect(publishing?.json<StreamEvent>()).toMatchObject({ streamId: STREAM, kind: 'publishing', seq: 0 });

    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', nats: true, rtmp: true });
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toContain(`livemesh_ingest_segments_published_total{source="rtmp"} ${segments.length}`);

    expect(logs.lines.map((l) => l.text).join('\n')).not.toContain(KEY);
  });

  it('refuses a publish with an unknown key and says why in one line', async () => {
    const unknown = 'nosuchkey-0123456789';
    const pushed = await publishRtmp(clip, `rtmp://127.0.0.1:${rtmpPort}/live/${unknown}`, { realtime: true, timeoutMs: 30_000 });
    expect(pushed.code).not.toBe(0);

    const refusal = await waitFor('the refusal log line', 5000, () => logs.lines.find((l) => l.level === 'warn' && l.text.includes('publish refused')));
    expect(refusal.text).toMatch(/publish refused: key #[0-9a-f]{8} \(hash prefix\) is owned by no started stream \(app "live", ip 127\.0\.0\.1\)/);
    expect(logs.lines.filter((l) => l.text.includes('publish refused'))).toHaveLength(1);
    const all = logs.lines.map((l) => l.text).join('\n');
    expect(all).not.toContain(unknown);

    const info = await consumer.info();
    expect(info.pending + info.ackPending).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toContain('livemesh_ingest_publish_refusals_total{reason="unknown-key"} 1');
  });

  it('keeps counting seq and the timeline when the publisher comes back within the grace window', async () => {
    const before = await bus.getMessage(STREAMS.events, { lastBySubject: subjects.streamEvent(STREAM, 'publish-ended') });
    const pushed = await publishRtmp(clip, `rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`, { timeoutMs: 30_000 });
    expect(pushed.code).toBe(0);
    const { event: ended } = await eventAfter(bus, 'publish-ended', before?.seq ?? 0, 20_000);
    const segments = await take(consumer, bus, ended.data?.segments as number);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    expect(segments.map((s) => s.meta.seq)).toEqual(segments.map((_, i) => firstRun + i));
    // node-media-server resumes the publish onto the old clock: the same epoch, and the new run
    // starts where the last one ended (test/e2e/ingest-reconnect covers a real restart).
    expect(new Set(segments.map((s) => s.meta.epoch))).toEqual(new Set([0]));
    expect(Math.abs(segments[0]!.meta.pts - firstRunEnd)).toBeLessThan(0.05);
    for (let i = 1; i < segments.length; i++) {
      const prev = segments[i - 1]!.meta;
      expect(Math.abs(segments[i]!.meta.pts - (prev.pts + prev.duration))).toBeLessThan(0.05);
    }
  });
});
