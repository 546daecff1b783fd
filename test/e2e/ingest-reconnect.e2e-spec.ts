// An encoder that drops and reconnects, end to end (real ffmpeg publishers over RTMP, ingest,
// delivery's HLS, ffprobe on every segment).
// - The encoder restarts and reconnects from the same address within node-media-server's grace
//   window: NMS resumes the publish and shifts the new session onto the old clock, so the stream
//   goes on in the same epoch, with no discontinuity and no timestamp gap beyond one frame.
// - The encoder comes back after the grace window, its clock starting at 0: a real restart. The
//   playlist marks it with EXT-X-DISCONTINUITY, the timestamps still rise, and each part is
//   continuous on its own.
import { join } from 'node:path';
import { assertContinuous, generateClip, probeHls } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, splitAtDiscontinuities, startHarness, type Harness } from './ingest-delivery.harness.js';

const STREAM = 'rc1';
/** One video frame at 25 fps: how far apart two sessions may be joined. */
const FRAME = 0.04;
/** RTMP_RESUME_GRACE_SECONDS of this test: short, so the real restart does not wait 30 s. */
const GRACE_S = 5;

describe('ingest: publisher disconnect and reconnect', () => {
  let h: Harness;
  let key: string;
  let clip: string;

  beforeAll(async () => {
    h = await startHarness({ RTMP_RESUME_GRACE_SECONDS: String(GRACE_S) });
    clip = await generateClip({ seconds: 6, width: 320, height: 240, fps: 25, keyframeSeconds: 1, out: join(h.dir, 'clip.flv') });
    ({ key } = await h.addStream(STREAM));
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Publishes the clip as fast as it reads (ingest holds the publisher until its segmenter plays), then waits for the flush. */
  let leftAt = 0;
  async function publish(): Promise<number> {
    const before = await h.lastEventSeq(STREAM, 'publish-ended');
    const pushed = await ffmpeg(['-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${h.rtmpPort}/live/${key}`]).done;
    leftAt = Date.now();
    expect(pushed).toEqual({ code: 0, stderr: '' });
    const { event } = await h.eventAfter(STREAM, 'publish-ended', before, 20_000);
    return event.data?.segments as number;
  }

  const listed = async (n: number) =>
    waitFor(`${n} segments listed`, 20_000, async () => {
      const text = await (await fetch(h.hls(STREAM))).text();
      return (text.match(/^#EXTINF/gm) ?? []).length >= n ? text : undefined;
    }, { retryErrors: true });

  it('goes on in the same epoch when NMS resumes a restarted encoder within its grace window', async () => {
    const a = await publish();
    expect(Date.now() - leftAt).toBeLessThan(GRACE_S * 1000);
    const b = await publish();
    expect(a).toBeGreaterThanOrEqual(3);
    expect(b).toBeGreaterThanOrEqual(3);
    const text = await listed(a + b);
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    const hls = await probeHls(h.hls(STREAM));
    expect(hls.segments).toHaveLength(a + b);
    assertContinuous(hls, { size: { width: 320, height: 240 }, audio: true, toleranceSeconds: FRAME });
    expect(h.logs.text()).toMatch(/stream rc1: source starts at [\d.]+; continues the timeline/);
    expect(h.logs.text()).not.toContain('source timeline restarted');
  });

  it('marks a real restart (the encoder back after the grace window, its clock from 0) with a discontinuity, timestamps still rising', async () => {
    const before = (await probeHls(h.hls(STREAM))).segments.length;
    // The grace window is a span of time: what is waited for here is that it has passed.
    await waitFor('the grace window to pass', (GRACE_S + 5) * 1000, () => Date.now() - leftAt > (GRACE_S + 1) * 1000, { retryErrors: true });
    const c = await publish();
    const text = await listed(before + c);
    expect(text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
    const hls = await probeHls(h.hls(STREAM));
    const parts = splitAtDiscontinuities(hls);
    expect(parts.map((p) => p.segments.length)).toEqual([before, c]);
    for (const p of parts) assertContinuous(p, { size: { width: 320, height: 240 }, audio: true, toleranceSeconds: FRAME });
    const last = parts[0]!.segments.at(-1)!;
    const first = parts[1]!.segments[0]!;
    expect(first.video!.first).toBeGreaterThanOrEqual(last.video!.end - 0.005);
    expect(h.logs.text()).toMatch(/stream rc1 seq \d+: the source timeline restarted; epoch 1/);
  });
});
