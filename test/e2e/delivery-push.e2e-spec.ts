// RTMP push-out end to end: a stream whose start request names an RTMP output gets its target
// stream pushed there by delivery. The second RTMP endpoint is a real ffmpeg listening for a
// publisher (`-listen 1`) and recording what it receives; ffprobe reads the recording.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { BUCKETS, DEFAULT_RENDITION, loadEnv, subjects, type SegmentMeta, type StreamRecord } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, publishStreamEvent } from '@livemesh/bus';
import { runFfmpeg } from '@livemesh/media';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { freePort } from '../support/free-port.js';
import { ffprobeJson } from '../support/media.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments } from '../support/segments.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg } from './ingest-delivery.harness.js';

const STREAM = 'push1';
const TIMEOUT_MS = 90_000;

describe('delivery: RTMP push-out', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let dir: string;
  let base: string;
  const segments: { start: number; end: number; data: Uint8Array }[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-push-'));
    segments.push(...(await cutTestSegments(dir, 6, TIMEOUT_MS)));
    // Only 127.0.0.1 may be pushed to: 127.0.0.2 stands for the private and metadata addresses a
    // target must not reach (nothing listens there, so an attempt would count as a push failure).
    const env = loadEnv({ NATS_URL: nats.url, LOG_LEVEL: 'warn', LIVEMESH_ALLOW_PRIVATE_SOURCES: '127.0.0.1/32' });
    bus = await Bus.connect({ url: nats.url, name: 'push-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS });
    const port = await freePort();
    app = await createDeliveryApp(env, { logger: ['error', 'warn'] });
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
  }, TIMEOUT_MS);

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, TIMEOUT_MS);

  it('pushes the listed segments in order to the allowed RTMP URL of the start request, never to one outside LIVEMESH_ALLOW_PRIVATE_SOURCES, and ends with the stream', async () => {
    const rtmpPort = await freePort();
    const target = `rtmp://127.0.0.1:${rtmpPort}/live/cdn-key`;
    const recording = join(dir, 'received.flv');
    const receiver = ffmpeg(['-listen', '1', '-i', target, '-c', 'copy', '-f', 'flv', recording], TIMEOUT_MS);

    const now = new Date().toISOString();
    await bus.store(BUCKETS.streams).put(STREAM, {
      id: STREAM,
      state: 'live',
      keyHash: 'not-used-here',
      request: { id: STREAM, outputs: { rtmp: [target, `rtmp://127.0.0.2:${await freePort()}/live/cdn-key`, 'file:///tmp/not-a-target.flv'] } },
      chainVersion: 1,
      createdAt: now,
      updatedAt: now,
      errors: [],
    } as StreamRecord);
    // Give delivery's KV watch the record before the first segment, as the orchestrator does at start.
    await waitFor('delivery to be up', 5_000, async () => (await fetch(`${base}/health`)).ok, { retryErrors: true });

    for (const [seq, s] of segments.entries()) {
      const meta: SegmentMeta = { streamId: STREAM, seq, hop: 1, rendition: DEFAULT_RENDITION, pts: s.start, duration: s.end - s.start, ingestTime: Date.now(), epoch: 0, chainVersion: 1 };
      await publishSegment(bus, subjects.output(STREAM, DEFAULT_RENDITION), { meta, data: s.data }, { inlineLimit: 900 * 1024, kind: 'out' });
    }
    await waitFor('all segments pushed', 20_000, async () => {
      const m = /^livemesh_delivery_rtmp_pushed_segments_total (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text());
      return Number(m?.[1]) >= segments.length;
    }, { retryErrors: true });
    await publishStreamEvent(bus, { streamId: STREAM, kind: 'ended', data: { reason: 'stopped', purgedSegments: 0, lastSeq: segments.length - 1 } });

    const received = await receiver.done;
    expect(received.code).toBe(0);
    const probed = await ffprobeJson(recording);
    expect(probed.format?.format_name).toBe('flv');
    expect(probed.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    expect(probed.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    const total = segments.reduce((sum, s) => sum + (s.end - s.start), 0);
    expect(Math.abs(Number(probed.format?.duration) - total)).toBeLessThan(0.5);
    expect(/^livemesh_delivery_rtmp_push_failures_total (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]).toBe('0');
  }, TIMEOUT_MS);
  it('pushes segments published out of order (seq 1 before 0, and so on) in seq order', async () => {
    const id = 'push2';
    const rtmpPort = await freePort();
    const target = `rtmp://127.0.0.1:${rtmpPort}/live/cdn-key-2`;
    const recording = join(dir, 'received-2.flv');
    const receiver = ffmpeg(['-listen', '1', '-i', target, '-c', 'copy', '-f', 'flv', recording], TIMEOUT_MS);
    const pushedSoFar = async () => Number(/^livemesh_delivery_rtmp_pushed_segments_total (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);
    const before = await pushedSoFar();

    const now = new Date().toISOString();
    await bus.store(BUCKETS.streams).put(id, {
      id,
      state: 'live',
      keyHash: 'not-used-here',
      request: { id, outputs: { rtmp: [target] } },
      chainVersion: 1,
      createdAt: now,
      updatedAt: now,
      errors: [],
    } as StreamRecord);
    // Pairs swapped, as replicas of the last hop finish them: 1 0 3 2 5 4.
    const order = segments.map((_, i) => (i % 2 === 0 ? Math.min(i + 1, segments.length - 1) : i - 1));
    expect([...order].sort()).toEqual(segments.map((_, i) => i));
    for (const seq of order) {
      const s = segments[seq]!;
      const meta: SegmentMeta = { streamId: id, seq, hop: 1, rendition: DEFAULT_RENDITION, pts: s.start, duration: s.end - s.start, ingestTime: Date.now(), epoch: 0, chainVersion: 1 };
      await publishSegment(bus, subjects.output(id, DEFAULT_RENDITION), { meta, data: s.data }, { inlineLimit: 900 * 1024, kind: 'out' });
    }
    await waitFor('all segments pushed', 20_000, async () => (await pushedSoFar()) - before >= segments.length, { retryErrors: true });
    await publishStreamEvent(bus, { streamId: id, kind: 'ended', data: { reason: 'stopped', purgedSegments: 0, lastSeq: segments.length - 1 } });
    expect((await receiver.done).code).toBe(0);

    // The decoded pictures the target got are those of the segments in seq order, frame for frame.
    const inOrder = join(dir, 'in-order.ts');
    await writeFile(inOrder, Buffer.concat(segments.map((s) => s.data)));
    const frames = async (file: string) => {
      const { stdout } = await runFfmpeg(['-hide_banner', '-loglevel', 'error', '-i', file, '-map', '0:v:0', '-f', 'framemd5', 'pipe:1'], { timeoutMs: TIMEOUT_MS });
      return stdout.toString('utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').pop()!.trim());
    };
    const want = await frames(inOrder);
    expect(want.length).toBeGreaterThan(100);
    expect(await frames(recording)).toEqual(want);
  }, TIMEOUT_MS);
});
