// Sources that ingest must normalise before any stage sees them, each published over RTMP in real
// time and checked through delivery's HLS with ffprobe on every segment:
// - GOPs far longer than a segment (a key frame every 10 s): ingest notices the first segment
//   growing past 2.5x the segment length and switches the stream to re-encoding with a key frame
//   every segment; segments stay bounded, the timeline continuous.
// - audio that is not AAC (MP3 in FLV, as some RTMP encoders send it): ingest re-encodes it to AAC
//   with one encoder for the whole publish; every segment has AAC, the timeline is continuous.
import { join } from 'node:path';
import { runFfmpeg } from '@livemesh/media';
import { assertContinuous, generateClip, probeHls, type HlsProbe } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, startHarness, type Harness } from './ingest-delivery.harness.js';

describe('ingest: sources it normalises', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Publishes `clip` as stream `id` at its own pace; resolves with the stream's HLS once every segment is listed. */
  async function publishAndProbe(id: string, clip: string, minSegments: number): Promise<HlsProbe> {
    const { key } = await h.addStream(id);
    const before = await h.lastEventSeq(id, 'publish-ended');
    const pushed = await ffmpeg(['-re', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${h.rtmpPort}/live/${key}`]).done;
    expect(pushed).toEqual({ code: 0, stderr: '' });
    const { event } = await h.eventAfter(id, 'publish-ended', before, 30_000);
    const n = event.data?.segments as number;
    expect(n).toBeGreaterThanOrEqual(minSegments);
    await waitFor(`${n} segments listed`, 10_000, async () => ((await (await fetch(h.hls(id))).text()).match(/^#EXTINF/gm) ?? []).length >= n, { retryErrors: true });
    return probeHls(h.hls(id));
  }

  it('re-encodes a source with 10 s GOPs into ~2 s segments, continuous', async () => {
    const clip = await generateClip({ seconds: 12, width: 320, height: 240, fps: 25, keyframeSeconds: 10, out: join(h.dir, 'gop10.flv') });
    const hls = await publishAndProbe('gop1', clip, 5);
    // The last one ends where the source did; every other is cut on a forced key frame.
    for (const s of hls.segments.slice(0, -1)) expect(s.duration).toBeLessThan(2.6);
    assertContinuous(hls, { size: { width: 320, height: 240 }, audio: true, toleranceSeconds: 0.04 });
    expect(h.logs.text()).toMatch(/stream gop1: a segment grew past 2\.5x the segment length \(source GOP too long\); re-encoding/);
    const metrics = await (await fetch(`http://127.0.0.1:${h.ingest.getHttpServer().address().port}/metrics`)).text();
    expect(metrics).toContain('livemesh_ingest_reencode_switches_total{source="rtmp"} 1');
  });

  it('re-encodes MP3 audio to AAC; every segment has AAC and the stream is continuous', async () => {
    const aac = await generateClip({ seconds: 8, width: 320, height: 240, fps: 25, out: join(h.dir, 'aac.flv') });
    const clip = join(h.dir, 'mp3.flv');
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', aac, '-c:v', 'copy', '-c:a', 'libmp3lame', '-b:a', '96k', '-ar', '44100', '-f', 'flv', clip], { timeoutMs: 120_000 });
    const hls = await publishAndProbe('mp3src', clip, 3);
    expect(hls.segments.map((s) => s.audioCodec)).toEqual(hls.segments.map(() => 'aac'));
    assertContinuous(hls, { size: { width: 320, height: 240 }, audio: true });
    expect(h.logs.text()).toMatch(/stream mp3src: the source's audio is mp3, not AAC-LC: re-encoding it to AAC 128 kb\/s/);
  });
});
