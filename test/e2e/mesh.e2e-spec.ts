// The walking skeleton end to end: an encoder publishes over RTMP, ingest cuts 2 s segments,
// watermark and transcode workers (started by the orchestrator's process runtime) process them
// over JetStream, delivery writes HLS, and a viewer plays it through the orchestrator's port.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchInChromium } from '../support/browser.js';
import { assertContinuous, generateClip, probeHls, publishRtmp } from '../support/media.js';
import { startMesh, waitForSegments, type Mesh } from '../support/mesh.js';

describe('the whole mesh on one machine', () => {
  let mesh: Mesh;
  let dir: string;
  let clip: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-mesh-'));
    // 16 s at 1 s GOPs: ingest cuts ~2 s segments on key frames.
    clip = await generateClip({ seconds: 16, width: 1280, height: 720, fps: 30, out: join(dir, 'src.flv') });
    mesh = await startMesh();
  });

  afterAll(async () => {
    await mesh?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('turns a live RTMP publish into continuous 854x480 HLS that plays in Chromium without a stall', async () => {
    const stream = await mesh.startStream({ id: 'e2e' });
    expect(stream.chain.hops.map((h) => h.service)).toEqual(['watermark', 'transcode']);
    expect(stream.publish.rtmp).toMatch(new RegExp(`^rtmp://127\\.0\\.0\\.1:${mesh.rtmpPort}/live/[A-Za-z0-9_-]{20,}$`));
    expect(stream.playback.hls).toBe(`${mesh.apiUrl}/hls/e2e/index.m3u8`);

    const encoder = publishRtmp(clip, stream.publish.rtmp, { realtime: true });
    await waitForSegments(stream.playback.hls, 2, 60_000);
    const report = await watchInChromium(stream.playback.hls, 6);
    expect(report.fatalErrors).toEqual([]);
    expect([report.width, report.height]).toEqual([854, 480]);
    expect(report.played).toBeGreaterThan(4);
    expect(report.stalls).toBe(0);

    const { code, stderr } = await encoder;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    await waitForSegments(stream.playback.hls, 6, 30_000);
    const hls = await probeHls(stream.playback.hls);
    assertContinuous(hls, { size: { width: 854, height: 480 }, audio: true, minSegments: 5 });
  });

  it('serves the playlist with HLS content types and CORS through the orchestrator', async () => {
    const res = await fetch(`${mesh.apiUrl}/hls/e2e/index.m3u8`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/vnd\.apple\.mpegurl/);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const text = await res.text();
    expect(text).not.toMatch(/EXT-X-DISCONTINUITY/);
    const firstSegment = text.split('\n').find((l) => l && !l.startsWith('#'))!;
    const seg = await fetch(new URL(firstSegment, res.url));
    expect(seg.headers.get('content-type')).toBe('video/mp2t');
    expect((await seg.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('refuses a publish whose key no started stream owns, and says why in the log', async () => {
    // In real time, as an encoder does: the refusal reaches ffmpeg while it is still sending.
    const { code } = await publishRtmp(clip, `rtmp://127.0.0.1:${mesh.rtmpPort}/live/not-a-key-of-any-stream`, { realtime: true });
    expect(code).not.toBe(0);
    await mesh.apps.ingest.waitForLine(/publish refused.*no started stream/i, 10_000);
  });

  it('reports a corrupt segment on the status subject and goes on with the stream', async () => {
    const stream = await mesh.startStream({ id: 'e2e-corrupt' });
    const bus = await mesh.connectBus('e2e-mesh');
    try {
      const deadLetter = bus.subscribe(`lm.evt.stream.e2e-corrupt.dead-letter`, { max: 1 });
      const meta: Record<string, string> = {
        'Lm-Stream-Id': 'e2e-corrupt', 'Lm-Seq': '0', 'Lm-Hop': '0', 'Lm-Rendition': 'main', 'Lm-Pts': '0',
        'Lm-Duration': '2', 'Lm-Ingest-Time': String(Date.now()), 'Lm-Epoch': '0', 'Lm-Chain-Version': '1',
      };
      await bus.publish(stream.chain.hops[0]!.subject, new TextEncoder().encode('this is not MPEG-TS'.repeat(50)), { headers: meta, msgId: 'corrupt-0' });
      let event: { kind: string; message?: string; data?: Record<string, unknown> } | undefined;
      for await (const m of deadLetter) event = m.json();
      expect(event?.kind).toBe('dead-letter');
      // Refused by the in-process MPEG-TS check on its first attempt, as unusable input, not retried.
      expect(event?.message).toMatch(/segment is not MPEG-TS: it starts with 0x74686973 instead of the 0x47 sync byte/);
      expect(event?.data).toMatchObject({ code: 'LM_MEDIA_INPUT', attempts: 1 });

      // The stream goes on: a real publish after the corrupt segment comes out as HLS.
      const { code } = await publishRtmp(clip, stream.publish.rtmp);
      expect(code).toBe(0);
      await waitForSegments(stream.playback.hls, 3, 60_000);
    } finally {
      await bus.close();
    }
    expect(mesh.apps.orchestrator.lines.join('\n')).not.toMatch(/exited unexpectedly|Unhandled/);
  });
});
