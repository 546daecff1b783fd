// A source whose audio is not AAC (MP3 in FLV, as some RTMP encoders send it), published over RTMP
// in real time: ingest re-encodes its audio to AAC with one encoder for the whole publish, and the
// HLS output has AAC in every segment on one continuous timeline (ffprobe on every segment).
import { join } from 'node:path';
import { assertContinuous, generateClip, probeHls, runFfmpeg } from '../support/media.js';
import { waitFor } from '../support/wait.js';
import { ffmpeg, startHarness, type Harness } from './ingest-delivery.harness.js';

const STREAM = 'mp3src';

describe('ingest: audio that is not AAC', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('re-encodes MP3 audio to AAC at ingest; every segment has AAC and the stream is continuous', async () => {
    const aac = await generateClip({ seconds: 8, width: 320, height: 240, fps: 25, out: join(h.dir, 'aac.flv') });
    const clip = join(h.dir, 'mp3.flv');
    await runFfmpeg(['-loglevel', 'error', '-y', '-i', aac, '-c:v', 'copy', '-c:a', 'libmp3lame', '-b:a', '96k', '-ar', '44100', '-f', 'flv', clip]);
    const { key } = await h.addStream(STREAM);
    const before = await h.lastEventSeq(STREAM, 'publish-ended');
    const pushed = await ffmpeg(['-re', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${h.rtmpPort}/live/${key}`]).done;
    expect(pushed).toEqual({ code: 0, stderr: '' });
    const { event } = await h.eventAfter(STREAM, 'publish-ended', before, 30_000);
    const n = event.data?.segments as number;
    expect(n).toBeGreaterThanOrEqual(3);
    await waitFor(`${n} segments listed`, 10_000, async () => ((await (await fetch(h.hls(STREAM))).text()).match(/^#EXTINF/gm) ?? []).length >= n, { retryErrors: true });
    const hls = await probeHls(h.hls(STREAM));
    expect(hls.segments.map((s) => s.audioCodec)).toEqual(hls.segments.map(() => 'aac'));
    assertContinuous(hls, { size: { width: 320, height: 240 }, audio: true });
    expect(h.logs.text()).toMatch(/stream mp3src: the source's audio is mp3, not AAC: re-encoding it to AAC 128 kb\/s/);
  });
});
