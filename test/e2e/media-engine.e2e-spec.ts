// The warm media engine (lm-engine) against the CLI path it replaces, on real segments: the same
// frames and timestamps out, comparable quality, seamless joins; and the failure paths a worker
// depends on (bad input refused, a killed engine replaced, limits and recycling enforced).
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineCrashedError, MediaInputError, MediaTimeoutError } from '@livemesh/contracts';
import { EnginePool, defaultEnginePath, runFfmpeg, segmentStageArgs, type SegmentTransform } from '@livemesh/media';
import { ffprobeJson } from '../support/media.js';
import { cutTestSegments, type CutSegment } from '../support/segments.js';

const TIMEOUT = 30_000;
const TRANSCODE: SegmentTransform = { videoFilter: 'scale=854:480', video: { preset: 'veryfast', bitrateKbps: 1200 }, audio: 'copy' };
const COPY: SegmentTransform = { video: 'copy', audio: 'copy' };

interface Track {
  pts: number[];
  firstIsKey: boolean;
}

interface Probed {
  width?: number;
  height?: number;
  video: Track;
  audio: Track;
}

let dir: string;
let segments: CutSegment[];
let files = 0;

async function save(data: Uint8Array): Promise<string> {
  const file = join(dir, `out-${files++}.ts`);
  await writeFile(file, data);
  return file;
}

/** Every packet's pts (seconds) per track, in presentation order, and whether decode order starts on a key frame. */
async function probeTs(data: Uint8Array): Promise<Probed> {
  const file = await save(data);
  const p = await ffprobeJson(file, ['-show_packets', '-show_entries', 'packet=stream_index,pts_time,flags']);
  const track = (type: string): Track => {
    const s = p.streams.find((x) => x.codec_type === type);
    const packets = (p.packets ?? []).filter((k) => s && k.stream_index === s.index);
    return { pts: packets.map((k) => Number(k.pts_time)).sort((a, b) => a - b), firstIsKey: (packets[0]?.flags ?? '').includes('K') };
  };
  const v = p.streams.find((x) => x.codec_type === 'video');
  return { width: v?.width, height: v?.height, video: track('video'), audio: track('audio') };
}

/** PSNR (dB, average over frames) of an 854x480 output against its 720p source segment. */
async function psnr(output: Uint8Array, source: Uint8Array): Promise<number> {
  const [out, src] = [await save(output), await save(source)];
  const { stderr } = await runFfmpeg(['-hide_banner', '-nostdin', '-nostats', '-i', out, '-i', src, '-lavfi', '[1:v]scale=854:480[r];[0:v][r]psnr', '-f', 'null', '-'], { timeoutMs: TIMEOUT });
  const m = /average:([\d.]+)/.exec(stderr);
  if (!m) throw new Error(`no PSNR in ffmpeg's output:\n${stderr}`);
  return Number(m[1]);
}

function cli(data: Uint8Array, t: SegmentTransform): Promise<Buffer> {
  return runFfmpeg(segmentStageArgs(t), { input: data, timeoutMs: TIMEOUT, expectOutput: true }).then((r) => r.stdout);
}

beforeAll(async () => {
  if (!existsSync(defaultEnginePath())) throw new Error(`${defaultEnginePath()} is missing; run npm run build (it compiles the engine)`);
  dir = await mkdtemp(join(tmpdir(), 'lm-engine-'));
  // 6 s of 720p testsrc2 + a tone, cut on its 2 s key frames the way ingest does.
  segments = await cutTestSegments(dir, 6, TIMEOUT, { width: 1280, height: 720 });
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('lm-engine against the CLI path', () => {
  let pool: EnginePool;
  beforeAll(() => (pool = new EnginePool({ size: 1 })));
  afterAll(() => pool.close());

  it('gives the same frames, timestamps and key frames as ffmpeg, comparable quality, and joins seamlessly', async () => {
    expect(segments.length).toBe(3);
    const outs: Probed[] = [];
    for (const seg of segments) {
      const [engineOut, cliOut] = [await pool.run(seg.data, TRANSCODE, { timeoutMs: TIMEOUT }), await cli(seg.data, TRANSCODE)];
      const [e, c] = [await probeTs(engineOut), await probeTs(cliOut)];
      expect({ width: e.width, height: e.height }).toEqual({ width: 854, height: 480 });
      expect(e.video.pts.length).toBe(c.video.pts.length);
      expect(e.video.pts.length).toBeGreaterThanOrEqual(49);
      expect([e.video.pts[0], e.video.pts.at(-1)]).toEqual([c.video.pts[0], c.video.pts.at(-1)]);
      expect(e.video.firstIsKey).toBe(true);
      expect(e.audio.pts).toEqual(c.audio.pts);
      expect(e.audio.pts.length).toBeGreaterThan(80);
      const [pe, pc] = [await psnr(engineOut, seg.data), await psnr(cliOut, seg.data)];
      expect(Math.abs(pe - pc)).toBeLessThan(0.5);
      outs.push(e);
    }
    // One frame (40 ms at 25 fps) and one AAC packet (21.3 ms) from each segment's end to the next one's start.
    for (let i = 1; i < outs.length; i++) {
      expect(outs[i]!.video.pts[0]! - outs[i - 1]!.video.pts.at(-1)!).toBeCloseTo(0.04, 3);
      expect(outs[i]!.audio.pts[0]! - outs[i - 1]!.audio.pts.at(-1)!).toBeCloseTo(1024 / 48000, 3);
    }
    expect(pool.stats).toMatchObject({ segments: 3, crashes: 0, restarts: 0 });
  }, 60_000);

  it('copies video packet for packet when asked to', async () => {
    const seg = segments[1]!;
    const [e, src] = [await probeTs(await pool.run(seg.data, COPY, { timeoutMs: TIMEOUT })), await probeTs(seg.data)];
    expect(e.video.pts).toEqual(src.video.pts);
    expect(e.audio.pts).toEqual(src.audio.pts);
    expect(e.width).toBe(1280);
  });
});

describe('lm-engine failures', () => {
  let pool: EnginePool;
  beforeEach(() => (pool = new EnginePool({ size: 1, maxWidth: 1920, maxHeight: 1080 })));
  afterEach(() => pool.close());

  it('refuses a corrupt or truncated segment as bad input, and a fresh engine takes the next one', async () => {
    const seg = segments[0]!.data;
    const random = Buffer.alloc(188 * 500);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    await expect(pool.run(random, TRANSCODE, { timeoutMs: TIMEOUT })).rejects.toThrow(MediaInputError);
    const pid = pool.pids[0];
    await expect(pool.run(seg.subarray(0, Math.floor(seg.length / 2) + 5), TRANSCODE, { timeoutMs: TIMEOUT })).rejects.toThrow(MediaInputError);
    const out = await probeTs(await pool.run(seg, TRANSCODE, { timeoutMs: TIMEOUT }));
    expect(out.video.firstIsKey).toBe(true);
    expect(pool.pids[0]).not.toBe(pid);
    expect(pool.stats).toMatchObject({ segments: 1, restarts: 2 });
  });

  it('conceals damage inside a segment as the CLI does, instead of refusing the whole segment', async () => {
    const seg = Buffer.from(segments[0]!.data);
    const clean = await probeTs(await pool.run(seg, TRANSCODE, { timeoutMs: TIMEOUT }));
    // Scramble the payload of every 7th TS packet after the first 200 (headers kept, so the
    // demuxer still walks the stream): lost and garbled slices, as a lossy SRT link leaves them.
    for (let p = 200 * 188; p + 188 <= seg.length; p += 7 * 188) for (let i = p + 4; i < p + 188; i++) seg[i] = (i * 2654435761) >>> 24;
    const damaged = await probeTs(await pool.run(seg, TRANSCODE, { timeoutMs: TIMEOUT }));
    expect(damaged.video.firstIsKey).toBe(true);
    expect(damaged.video.pts.length).toBeGreaterThan(clean.video.pts.length / 2);
    expect(damaged.video.pts[0]).toBe(clean.video.pts[0]);
  });

  it('rejects with EngineCrashedError when the engine is SIGKILLed mid-segment, then serves the next request', async () => {
    const seg = segments[0]!.data;
    await pool.run(seg, COPY, { timeoutMs: TIMEOUT }); // started and warm
    const [pid] = pool.pids;
    const running = pool.run(seg, TRANSCODE, { timeoutMs: TIMEOUT });
    process.kill(pid!, 'SIGKILL');
    await expect(running).rejects.toThrow(EngineCrashedError);
    expect((await probeTs(await pool.run(seg, COPY, { timeoutMs: TIMEOUT }))).video.pts.length).toBeGreaterThan(0);
    expect(pool.pids[0]).not.toBe(pid);
    expect(pool.stats).toMatchObject({ segments: 2, crashes: 1, restarts: 1 });
  });

  it('refuses a picture above its size limit', async () => {
    const small = new EnginePool({ size: 1, maxWidth: 640, maxHeight: 360 });
    try {
      await expect(small.run(segments[0]!.data, TRANSCODE, { timeoutMs: TIMEOUT })).rejects.toThrow(/1280x720 is above the 640x360 limit/);
      await expect(small.run(segments[0]!.data, COPY, { timeoutMs: TIMEOUT })).rejects.toThrow(MediaInputError);
    } finally {
      await small.close();
    }
  });

  it('kills an engine that runs past its time limit', async () => {
    await expect(pool.run(segments[0]!.data, TRANSCODE, { timeoutMs: 5 })).rejects.toThrow(MediaTimeoutError);
    await expect(pool.run(segments[0]!.data, COPY, { timeoutMs: TIMEOUT })).resolves.toBeInstanceOf(Buffer);
  });

  it('replaces an engine after recycleAfter segments', async () => {
    const recycling = new EnginePool({ size: 1, recycleAfter: 2 });
    try {
      const pids: number[] = [];
      for (const seg of segments) {
        // run() takes (or starts) its engine before its first await: the pid is the one serving.
        const running = recycling.run(seg.data, COPY, { timeoutMs: TIMEOUT });
        pids.push(recycling.pids[0]!);
        await running;
      }
      expect(pids[1]).toBe(pids[0]);
      expect(pids[2]).not.toBe(pids[1]);
      expect(recycling.stats).toMatchObject({ segments: 3, restarts: 1, crashes: 0 });
    } finally {
      await recycling.close();
    }
  });
});
