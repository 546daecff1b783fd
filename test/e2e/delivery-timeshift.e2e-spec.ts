// Delivery's time-shift and durability, end to end: a real nats-server, the delivery app in-process,
// a real clip cut by ffmpeg into 2 s segments published to lm.out. A viewer can start N seconds
// behind live (?start=-N -> ?from=<seq>) or from the oldest retained segment (event.m3u8); segments
// older than the live window are read back from LM_OUT. After a restart, delivery rebuilds every
// window from LM_OUT, and an end published while it was down still closes the playlist. Ingest-to-
// playlist latency is on /metrics per stream and in lm_status for the orchestrator.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { BUCKETS, DEFAULT_RENDITION, loadEnv, statusKey, subjects, type Env, type SegmentMeta } from '@livemesh/contracts';
import { Bus, ensureTopology, publishSegment, publishStreamEvent } from '@livemesh/bus';
import { createDeliveryApp } from '../../apps/delivery/src/delivery.app.js';
import { freePort } from '../support/free-port.js';
import { assertContinuous, probeHls } from '../support/media.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { cutTestSegments } from '../support/segments.js';
import { waitFor } from '../support/wait.js';
import { segmentUris } from './ingest-delivery.harness.js';

const STREAM = 'ts1';
const TIMEOUT_MS = 90_000;

describe('delivery: time-shift, restart and latency', () => {
  let nats: NatsServer;
  let bus: Bus;
  let app: INestApplication;
  let env: Env;
  let base: string;
  let dir: string;
  const segments: { start: number; end: number; data: Uint8Array }[] = [];

  async function startApp(): Promise<void> {
    const port = await freePort();
    app = await createDeliveryApp(env, { logger: ['error', 'warn'] });
    await app.listen(port, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-timeshift-'));
    segments.push(...(await cutTestSegments(dir, 16, TIMEOUT_MS)));
    expect(segments).toHaveLength(8);
    env = loadEnv({ NATS_URL: nats.url, HLS_WINDOW: '3', OUTPUT_RETENTION_SECONDS: '600', LOG_LEVEL: 'warn' });
    bus = await Bus.connect({ url: nats.url, name: 'timeshift-e2e' });
    await ensureTopology(bus, { outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS });
    await startApp();
  }, TIMEOUT_MS);

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, TIMEOUT_MS);

  /** Publishes seq as a stage's output, cut `agoMs` before now (the latency delivery will measure). */
  async function publish(seq: number, agoMs: number): Promise<void> {
    const s = segments[seq]!;
    const meta: SegmentMeta = {
      streamId: STREAM,
      seq,
      hop: 1,
      rendition: DEFAULT_RENDITION,
      pts: s.start,
      duration: s.end - s.start,
      ingestTime: Date.now() - agoMs,
      epoch: 0,
      chainVersion: 1,
    };
    await publishSegment(bus, subjects.output(STREAM, DEFAULT_RENDITION), { meta, data: s.data }, { inlineLimit: 900 * 1024, kind: 'out' });
  }

  const playlist = (path: string) => fetch(`${base}/hls/${STREAM}/${path}`, { redirect: 'manual' });

  it('serves a live window, a start N seconds behind live, and an event playlist from the oldest segment', async () => {
    // The clip's 16 s arrive as if cut over the last 16 s; each lands ~0.4 s after its cut.
    for (let seq = 0; seq < 8; seq++) await publish(seq, 400 + (7 - seq) * 2000);
    const live = await waitFor('the live window at seq 7', 20_000, async () => {
      const r = await playlist('index.m3u8');
      const body = r.status === 200 ? await r.text() : '';
      return body.includes('main/7.ts') ? body : undefined;
    }, { retryErrors: true });
    expect(segmentUris(live)).toEqual(['main/5.ts', 'main/6.ts', 'main/7.ts']);

    // 9 s behind the live edge (which is at 16 s): the segment that began at 6-8 s.
    const redirect = await playlist('main/index.m3u8?start=-9');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('cache-control')).toBe('no-store');
    const location = redirect.headers.get('location')!;
    expect(location).toMatch(/^index\.m3u8\?from=[34]$/);
    const from = Number(location.split('=')[1]);

    const shiftedUrl = `${base}/hls/${STREAM}/main/${location}`;
    const shifted = await (await fetch(shiftedUrl)).text();
    expect(shifted).toContain('#EXT-X-START:TIME-OFFSET=0');
    expect(shifted).toContain(`#EXT-X-MEDIA-SEQUENCE:${from}`);
    expect(segmentUris(shifted)).toEqual(Array.from({ length: 8 - from }, (_, i) => `${from + i}.ts`));
    // Everything before seq 5 has left the live window: its bytes come back from LM_OUT.
    const probed = await probeHls(shiftedUrl);
    assertContinuous(probed, { size: { width: 320, height: 240 }, audio: true });
    expect(Buffer.compare(Buffer.from(await (await fetch(`${base}/hls/${STREAM}/main/${from}.ts`)).arrayBuffer()), Buffer.from(segments[from]!.data))).toBe(0);

    // The stream's own index redirects the same way, to its single rendition.
    const streamRedirect = await playlist('index.m3u8?start=-9');
    expect(streamRedirect.status).toBe(302);
    const streamShifted = await (await fetch(new URL(streamRedirect.headers.get('location')!, `${base}/hls/${STREAM}/index.m3u8`))).text();
    expect(segmentUris(streamShifted)[0]).toBe(`main/${from}.ts`);

    const event = await (await playlist('main/event.m3u8')).text();
    expect(event).toContain('#EXT-X-PLAYLIST-TYPE:EVENT');
    expect(event).toContain('#EXT-X-MEDIA-SEQUENCE:0');
    expect(segmentUris(event)).toHaveLength(8);
    // (The clip's first cut holds the encoder's start-up frames; its continuity is not what is tested here.)
    assertContinuous(await probeHls(`${base}/hls/${STREAM}/main/event.m3u8`, { lastSegments: 7 }), { audio: true, minSegments: 7 });

    expect((await playlist('main/index.m3u8?start=soon')).status).toBe(400);
    expect((await playlist('main/index.m3u8?from=x')).status).toBe(400);
  }, TIMEOUT_MS);

  it('measures ingest-to-playlist latency per stream on /metrics and in lm_status', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const last = Number(/^livemesh_delivery_stream_ingest_to_playlist_seconds\{stream="ts1",stat="last"\} ([\d.]+)$/m.exec(metrics)?.[1]);
    expect(last).toBeGreaterThan(0.3);
    expect(last).toBeLessThan(5);
    expect(metrics).toMatch(/^livemesh_delivery_stream_ingest_to_playlist_seconds\{stream="ts1",stat="p50"\} [\d.]+$/m);
    const status = await waitFor('the latency status', 10_000, async () => {
      const v = (await bus.store(BUCKETS.status).get(statusKey(STREAM, 'delivery')))?.value;
      return v && 'latency' in v ? v : undefined;
    }, { retryErrors: true });
    expect(status.latency.ingestToPlaylistMs.samples).toBeGreaterThanOrEqual(1);
    expect(status.latency.ingestToPlaylistMs.p50).toBeGreaterThan(300);
  }, TIMEOUT_MS);

  it('rebuilds the window and the time-shift index after a restart, and ends a stream that ended meanwhile', async () => {
    await app.close();
    await publishStreamEvent(bus, { streamId: STREAM, kind: 'ended', data: { reason: 'stopped', purgedSegments: 0, lastSeq: 7 } });
    await startApp();
    const ended = await waitFor('the rebuilt playlist with EXT-X-ENDLIST', 20_000, async () => {
      const body = await (await playlist('index.m3u8')).text();
      return body.includes('#EXT-X-ENDLIST') ? body : undefined;
    }, { retryErrors: true });
    expect(segmentUris(ended)).toEqual(['main/5.ts', 'main/6.ts', 'main/7.ts']);
    const shifted = await (await playlist('main/index.m3u8?from=0')).text();
    expect(segmentUris(shifted)).toHaveLength(8);
    expect(shifted.trimEnd().endsWith('#EXT-X-ENDLIST')).toBe(true);
    assertContinuous(await probeHls(`${base}/hls/${STREAM}/main/index.m3u8?from=0`, { lastSegments: 7 }), { audio: true, minSegments: 7 });
    // Read back, not delivered live: no latency is measured for it.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^livemesh_delivery_ingest_to_playlist_seconds_count 0$/m);
  }, TIMEOUT_MS);
});
