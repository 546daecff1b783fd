// RTMP push-out end to end: a stream whose start request names an RTMP output gets its target
// stream pushed there by delivery. The second RTMP endpoint is a real ffmpeg listening for a
// publisher (`-listen 1`) and recording what it receives; ffprobe reads the recording.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { BUCKETS, DEFAULT_RENDITION, loadEnv, subjects, type SegmentMeta, type StreamRecord } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, publishStreamEvent } from '@livemesh/bus';
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
    const env = loadEnv({ NATS_URL: nats.url, LOG_LEVEL: 'warn' });
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

  it('pushes the listed segments in order to the RTMP URL of the start request, and ends with the stream', async () => {
    const rtmpPort = await freePort();
    const target = `rtmp://127.0.0.1:${rtmpPort}/live/cdn-key`;
    const recording = join(dir, 'received.flv');
    const receiver = ffmpeg(['-listen', '1', '-i', target, '-c', 'copy', '-f', 'flv', recording], TIMEOUT_MS);

    const now = new Date().toISOString();
    await bus.store(BUCKETS.streams).put(STREAM, {
      id: STREAM,
      state: 'live',
      key: 'not-used-here-0123456789',
      request: { id: STREAM, outputs: { rtmp: [target, 'file:///tmp/not-a-target.flv'] } },
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
});
