// A source whose GOPs are far longer than a segment (a key frame every 10 s), published over RTMP
// in real time: ingest notices the first segment growing past 2.5x the segment length, switches the
// stream to re-encoding with a key frame every segment, and the HLS output has bounded segments
// and one continuous timeline (ffprobe on every segment).
import { join } from 'node:path';
import { assertContinuous, generateClip, probeHls } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, startHarness, type Harness } from './ingest-delivery.harness.js';

const STREAM = 'gop1';

describe('ingest: long GOPs', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('re-encodes a source with 10 s GOPs into ~2 s segments, continuous', async () => {
    const clip = await generateClip({ seconds: 12, width: 320, height: 240, fps: 25, keyframeSeconds: 10, out: join(h.dir, 'gop10.flv') });
    const { key } = await h.addStream(STREAM);
    const before = await h.lastEventSeq(STREAM, 'publish-ended');
    const pushed = await ffmpeg(['-re', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${h.rtmpPort}/live/${key}`]).done;
    expect(pushed).toEqual({ code: 0, stderr: '' });
    const { event } = await h.eventAfter(STREAM, 'publish-ended', before, 30_000);
    const n = event.data?.segments as number;
    expect(n).toBeGreaterThanOrEqual(5);
    await waitFor(`${n} segments listed`, 10_000, async () => ((await (await fetch(h.hls(STREAM))).text()).match(/^#EXTINF/gm) ?? []).length >= n, { retryErrors: true });
    const hls = await probeHls(h.hls(STREAM));
    // The last one ends where the source did; every other is cut on a forced key frame.
    for (const s of hls.segments.slice(0, -1)) expect(s.duration).toBeLessThan(2.6);
    assertContinuous(hls, { size: { width: 320, height: 240 }, audio: true, toleranceSeconds: 0.04 });
    expect(h.logs.text()).toMatch(/stream gop1: a segment grew past 2\.5x the segment length \(source GOP too long\); re-encoding/);
    const metrics = await (await fetch(`http://127.0.0.1:${h.ingest.getHttpServer().address().port}/metrics`)).text();
    expect(metrics).toContain('livemesh_ingest_reencode_switches_total{source="rtmp"} 1');
  });
});
