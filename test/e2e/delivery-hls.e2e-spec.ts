// Delivery end to end: a real nats-server, the delivery app in-process on a free port, a real clip
// cut by ffmpeg into 2 s segments, published to lm.out.s1.main out of order; the playlist must list
// them in order, serve bytes ffprobe reads, and close with EXT-X-ENDLIST once the stream ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DEFAULT_RENDITION, loadEnv, subjects, type SegmentMeta } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, publishStreamEvent } from '@livemesh/bus';
import { probe } from '@livemesh/media';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { freePort } from '../support/free-port.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments } from '../support/segments.js';
import { waitFor } from '../support/wait.js';
import { segmentUris } from './ingest-delivery.harness.js';

const STREAM = 's1';
const TIMEOUT_MS = 60_000;

describe('delivery: HLS origin', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let base: string;
  let dir: string;
  let env: ReturnType<typeof loadEnv>;
  const segments: { seq: number; start: number; end: number; data: Uint8Array }[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-delivery-'));
    segments.push(...(await cutTestSegments(dir, 6, TIMEOUT_MS)));
    expect(segments).toHaveLength(3);

    const port = await freePort();
    env = loadEnv({ NATS_URL: nats.url, DELIVERY_PORT: String(port), HLS_WINDOW: '6', LOG_LEVEL: 'warn' });
    bus = await Bus.connect({ url: nats.url, name: 'delivery-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS });
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

  // Cut times in the past, as ingest stamps them before a segment reaches delivery.
  const ingestTime = Date.now() - 60_000;
  const publishTo = async (streamId: string, seq: number): Promise<void> => {
    const s = segments[seq]!;
    const meta: SegmentMeta = {
      streamId,
      seq,
      hop: 1,
      rendition: DEFAULT_RENDITION,
      pts: s.start,
      duration: s.end - s.start,
      ingestTime: ingestTime + seq * 2000,
      epoch: 0,
      chainVersion: 1,
      transfer: { width: 320, height: 240 },
    };
    await publishSegment(bus, subjects.output(streamId, DEFAULT_RENDITION), { meta, data: s.data }, { inlineLimit: 900 * 1024, kind: 'out' });
  };

  it('lists out-of-order segments in order, serves them, and ends the playlist', async () => {
    const publish = (seq: number) => publishTo(STREAM, seq);
    // Malformed messages first: they must be acked away without stopping the consumer.
    await bus.publish(subjects.output(STREAM, DEFAULT_RENDITION), segments[0]!.data);
    await publishSegment(
      bus,
      subjects.output('other', DEFAULT_RENDITION),
      { meta: { streamId: STREAM, seq: 7, hop: 1, rendition: DEFAULT_RENDITION, pts: 0, duration: 2, ingestTime, epoch: 0, chainVersion: 1 }, data: segments[0]!.data },
      { inlineLimit: 900 * 1024, kind: 'out' },
    );
    for (const seq of [1, 0, 2]) await publish(seq);

    const playlistUrl = `${base}/hls/${STREAM}/index.m3u8`;
    const text = await waitFor('a playlist listing 3 segments', 20_000, async () => {
      const res = await fetch(playlistUrl);
      if (res.status !== 200) return undefined;
      const body = await res.text();
      return segmentUris(body).length === 3 ? body : undefined;
    }, { retryErrors: true });
    expect(segmentUris(text)).toEqual(['main/0.ts', 'main/1.ts', 'main/2.ts']);
    expect(text).toContain('#EXT-X-MEDIA-SEQUENCE:0');
    // The segmenter's first cut is ~2.02 s: rounded to nearest (RFC 8216), not up to 3.
    expect(text).toContain('#EXT-X-TARGETDURATION:2\n');
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    expect(text).not.toContain('#EXT-X-ENDLIST');

    const res = await fetch(playlistUrl);
    expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.apple\.mpegurl/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('max-age=1');

    const rendition = await fetch(`${base}/hls/${STREAM}/main/index.m3u8`);
    expect(rendition.status).toBe(200);
    expect(segmentUris(await rendition.text())).toEqual(['0.ts', '1.ts', '2.ts']);

    const preflight = await fetch(playlistUrl, { method: 'OPTIONS', headers: { Origin: 'http://player.example', 'Access-Control-Request-Method': 'GET' } });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');

    for (const uri of segmentUris(text)) {
      const seg = await fetch(new URL(uri, playlistUrl));
      expect(seg.status).toBe(200);
      expect(seg.headers.get('content-type')).toBe('video/mp2t');
      expect(seg.headers.get('access-control-allow-origin')).toBe('*');
      expect(seg.headers.get('cache-control')).toBe('max-age=86400, immutable');
      const bytes = new Uint8Array(await seg.arrayBuffer());
      expect(Buffer.compare(bytes, segments[Number(uri.match(/(\d+)\.ts$/)![1])]!.data)).toBe(0);
      const info = await probe(bytes, { timeoutMs: TIMEOUT_MS, format: 'mpegts' });
      expect(info.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
      expect(info.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    }

    const missing = await fetch(`${base}/hls/nope/index.m3u8`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ statusCode: 404, message: 'stream nope is not being delivered' });
    expect((await fetch(`${base}/hls/${STREAM}/main/9.ts`)).status).toBe(404);
    expect((await fetch(`${base}/hls/${STREAM}/other/index.m3u8`)).status).toBe(404);
    expect((await fetch(`${base}/hls/bad.id/index.m3u8`)).status).toBe(400);

    // No last seq in the event: delivery waits its end grace (2 target durations) for stragglers.
    await publishStreamEvent(bus, { streamId: STREAM, kind: 'ended', data: { reason: 'stopped', purgedSegments: 0 } });
    const ended = await waitFor('EXT-X-ENDLIST', 20_000, async () => {
      const r = await fetch(playlistUrl);
      const body = await r.text();
      return body.includes('#EXT-X-ENDLIST') ? { headers: r.headers, body } : undefined;
    }, { retryErrors: true });
    expect(ended.headers.get('cache-control')).toBe('max-age=300');
    expect(segmentUris(ended.body)).toEqual(['main/0.ts', 'main/1.ts', 'main/2.ts']);
    expect(ended.body.trimEnd().split('\n').at(-1)).toBe('#EXT-X-ENDLIST');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^livemesh_delivery_segments_delivered_total 3$/m);
    expect(metrics).toMatch(/^livemesh_delivery_reorder_waits_total 1$/m);
    expect(metrics).toMatch(/^livemesh_delivery_ingest_to_playlist_seconds_count 3$/m);
    expect(metrics).toMatch(/^livemesh_delivery_segments_dropped_total\{reason="malformed"\} 2$/m);
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok', streams: 1 });
  }, TIMEOUT_MS);

  it('skips a segment that never arrives after a bounded wait, marking the hole with a discontinuity', async () => {
    await publishTo('lost', 0);
    await publishTo('lost', 2);
    const url = `${base}/hls/lost/index.m3u8`;
    const started = Date.now();
    const text = await waitFor('seq 2 listed after the gap wait', 20_000, async () => {
      const res = await fetch(url);
      const body = res.status === 200 ? await res.text() : '';
      return segmentUris(body).length === 2 ? body : undefined;
    }, { retryErrors: true });
    // Two target durations (2 s each) from seq 2's arrival, never blocking the stream for longer.
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(text).toMatch(/main\/0\.ts\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:[\d.]+,\nmain\/2\.ts\n/);
    // Each side of the hole is a valid segment ffprobe reads; seq 1 arriving late is not listed.
    for (const uri of segmentUris(text)) {
      const info = await probe(new Uint8Array(await (await fetch(new URL(uri, url))).arrayBuffer()), { timeoutMs: TIMEOUT_MS, format: 'mpegts' });
      expect(info.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    }
    await publishTo('lost', 1);
    await waitFor('the late seq to be dropped', 20_000, async () => {
      const m = /^livemesh_delivery_segments_dropped_total\{reason="late"\} (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text());
      return Number(m?.[1]) >= 1 ? true : undefined;
    }, { retryErrors: true });
    expect(segmentUris(await (await fetch(url)).text())).toEqual(['main/0.ts', 'main/2.ts']);
    expect(/^livemesh_delivery_segments_skipped_total (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1]).toBe('1');
  }, TIMEOUT_MS);

  it('picks up, after a restart, what was published while it was down, and rebuilds what it had', async () => {
    await app.close();
    await publishTo('s2', 1);
    await publishTo('s2', 0);
    const port = await freePort();
    app = await createDeliveryApp(env, { logger: ['error', 'warn'] });
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    const text = await waitFor('s2 listing 2 segments', 20_000, async () => {
      const res = await fetch(`${base}/hls/s2/index.m3u8`);
      const body = res.status === 200 ? await res.text() : '';
      return segmentUris(body).length === 2 ? body : undefined;
    }, { retryErrors: true });
    expect(segmentUris(text)).toEqual(['main/0.ts', 'main/1.ts']);
    // s1 is rebuilt from what LM_OUT retains, and its 'ended' event (LM_EVT) closes it again.
    const s1 = await waitFor('s1 rebuilt and ended', 20_000, async () => {
      const body = await (await fetch(`${base}/hls/${STREAM}/index.m3u8`)).text();
      return body.includes('#EXT-X-ENDLIST') ? body : undefined;
    }, { retryErrors: true });
    expect(segmentUris(s1)).toEqual(['main/0.ts', 'main/1.ts', 'main/2.ts']);
  }, TIMEOUT_MS);
});
