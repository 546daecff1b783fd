// Real ffmpeg makes the segments; the reader must agree with ffprobe on every one of them.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { carriedAudioStageArgs, segmenterArgs, testSourceArgs } from './args.builder.js';
import { runFfmpeg, runFfprobe } from './ffmpeg.runner.js';
import { readAdtsTrack, splitAdtsFrames, type AdtsTrack } from './ts.audio.js';
import { writeFile } from 'node:fs/promises';

const T = 30_000;
let dir: string;
let segments: Uint8Array[];

async function packets(ts: Uint8Array, kind: 'a' | 'v' = 'a'): Promise<{ pts: number; duration: number }[]> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-select_streams', `${kind}:0`, '-show_entries', 'packet=pts_time,duration_time', '-of', 'json', '-i', 'pipe:0'], { input: ts, timeoutMs: T });
  return (JSON.parse(stdout.toString()) as { packets: { pts_time: string; duration_time: string }[] }).packets.map((p) => ({ pts: Number(p.pts_time), duration: Number(p.duration_time) }));
}

function track(ts: Uint8Array): AdtsTrack {
  const t = readAdtsTrack(ts);
  if ('unusable' in t) throw new Error(t.unusable);
  return t;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'livemesh-ts-audio-'));
  // B-frames and a clock that starts at 10 s: what a camera behind RTMP or an HLS pull looks like.
  const clip = join(dir, 'clip.ts');
  await runFfmpeg(testSourceArgs({ width: 160, height: 120, fps: 25, durationSec: 6, output: { file: clip }, realtime: false, format: 'mpegts', startSeconds: 10 }), { timeoutMs: T });
  await runFfmpeg(segmenterArgs({ input: { file: clip }, segmentSeconds: 2, outputPattern: join(dir, 'seg_%03d.ts'), listTarget: 'pipe:1' }), { timeoutMs: T });
  const names = (await readdir(dir)).filter((f) => f.startsWith('seg_')).sort();
  segments = await Promise.all(names.map(async (f) => new Uint8Array(await readFile(join(dir, f)))));
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('readAdtsTrack', () => {
  it('finds every AAC frame of a segment at the time ffprobe gives its first packet', async () => {
    expect(segments.length).toBe(3);
    for (const seg of segments) {
      const t = track(seg);
      const audio = await packets(seg);
      expect(t.frames.length).toBe(audio.length);
      expect(t.samples).toBe(audio.length * 1024);
      expect(t.startSeconds).toBeCloseTo(audio[0]!.pts, 5);
      expect(t).toMatchObject({ sampleRate: 48_000, channels: 2 });
      // The frames are whole ADTS frames: split again, they are the same frames.
      const again = splitAdtsFrames(Buffer.concat(t.frames));
      expect('frames' in again && again.frames.length).toBe(t.frames.length);
    }
  });

  it('says why when the audio is not AAC in ADTS, or there is none, or the bytes are not MPEG-TS', async () => {
    const mp2 = (await runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'mp2', '-f', 'mpegts', 'pipe:1'], { timeoutMs: T })).stdout;
    expect(readAdtsTrack(mp2)).toEqual({ unusable: 'the first audio track is MPEG-TS stream type 0x3, not AAC in ADTS' });
    const silent = (await runFfmpeg(testSourceArgs({ width: 160, height: 120, fps: 25, durationSec: 1, output: 'pipe', realtime: false, format: 'mpegts', audio: false }), { timeoutMs: T })).stdout;
    expect(readAdtsTrack(silent)).toEqual({ unusable: 'no audio track' });
    const junk = randomBytes(188 * 4);
    junk[0] = 0x47;
    junk[188] = 0x00;
    expect(readAdtsTrack(junk)).toEqual({ unusable: 'no MPEG-TS sync byte at offset 188' });
    expect(splitAdtsFrames(new Uint8Array([0xff, 0xf1, 0x50, 0x80, 0xff, 0xff, 0xfc]))).toEqual({ unusable: 'ADTS frame at byte 0 claims 2047 bytes' });
  });
});

describe('segmenterArgs on a source with B-frames', () => {
  it('keeps one timeline across segments: each starts where the one before it ended, in both tracks', async () => {
    for (let k = 1; k < segments.length; k++) {
      const before = track(segments[k - 1]!);
      const after = track(segments[k]!);
      // Audio: the next segment's first frame is the one after the previous segment's last.
      expect(after.startSeconds).toBeCloseTo(before.startSeconds + before.samples / before.sampleRate, 4);
      // Video: one frame (25 fps) from the previous segment's latest picture to this one's earliest.
      const last = Math.max(...(await packets(segments[k - 1]!, 'v')).map((p) => p.pts));
      const first = Math.min(...(await packets(segments[k]!, 'v')).map((p) => p.pts));
      expect(first - last).toBeCloseTo(0.04, 4);
    }
    const firstAudio = track(segments[0]!).startSeconds;
    // The clock starts near 0 (-start_at_zero), not at the source's 10 s.
    expect(firstAudio).toBeLessThan(0.5);
  });
});

describe('carriedAudioStageArgs on real media', () => {
  it('re-encodes the audio from the ADTS frames and leaves the copied video on its timestamps', async () => {
    // Audio from 0 s, video from 0.05 s: the shape that made ffmpeg move the video to 0 when the
    // segment's own audio stream went unread.
    const seg = (await runFfmpeg([
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=20', '-itsoffset', '0.05', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=20',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '2', '-map', '1:v', '-map', '2:a',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-c:a', 'aac', '-ac', '2', '-bsf:a', 'noise=drop=eq(n\\,0)',
      '-copyts', '-muxdelay', '0', '-muxpreload', '0', '-avoid_negative_ts', 'disabled', '-f', 'mpegts', 'pipe:1',
    ], { timeoutMs: T })).stdout;
    const t = track(seg);
    expect(t.startSeconds).toBe(0);
    const adtsFile = join(dir, 'carried.adts');
    await writeFile(adtsFile, Buffer.concat(t.frames));
    const kept = Math.floor((t.samples - 2048) / 1024);
    const out = (await runFfmpeg(carriedAudioStageArgs({
      adtsFile, dropSamples: 0, padSamples: 0, sampleRate: 48_000, startSample: 0, audioFilter: 'volume=volume=0.5',
      keepPackets: { from: 1, to: 1 + kept }, audio: { codec: 'aac', bitrateKbps: 96 },
    }), { input: seg, timeoutMs: T })).stdout;
    expect((await packets(out, 'v')).map((p) => p.pts)).toEqual((await packets(seg, 'v')).map((p) => p.pts));
    const audio = await packets(out, 'a');
    expect(audio).toHaveLength(kept);
    expect(audio[0]!.pts).toBe(0);
  });
});
