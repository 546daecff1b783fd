// Real ffmpeg on tiny generated clips. Kept short: the machines have 2 cores.
import { randomBytes } from 'node:crypto';
import { MediaInputError, MediaProcessError, MediaTimeoutError } from '@livemesh/contracts';
import { segmentStageArgs, testSourceArgs } from './args.builder.js';
import { probe, runFfmpeg } from './ffmpeg.runner.js';

let segment: Buffer;

beforeAll(async () => {
  const args = testSourceArgs({ width: 320, height: 240, fps: 25, durationSec: 2, output: 'pipe', realtime: false, format: 'mpegts', startSeconds: 10 });
  segment = (await runFfmpeg(args, { timeoutMs: 20_000 })).stdout;
}, 30_000);

const stage = segmentStageArgs({ video: { preset: 'ultrafast' }, audio: 'copy' });

describe('runFfmpeg', () => {
  it('returns stdout as bytes', async () => {
    expect(segment.length).toBeGreaterThan(10_000);
    expect(segment[0]).toBe(0x47); // MPEG-TS sync byte
    const p = await probe(segment, { timeoutMs: 10_000, format: 'mpegts' });
    expect(p.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
    expect(p.streams.find((s) => s.codec_type === 'video')?.width).toBe(320);
  });

  it('kills a run past its wall-clock limit with MediaTimeoutError, reporting progress meanwhile', async () => {
    let progress = 0;
    const started = Date.now();
    const run = runFfmpeg(['-hide_banner', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-f', 'null', '-'], {
      timeoutMs: 2500,
      onProgress: () => progress++,
    });
    await expect(run).rejects.toBeInstanceOf(MediaTimeoutError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(progress).toBeGreaterThanOrEqual(1);
    expect(progress).toBeLessThanOrEqual(3);
  });

  it.each([
    ['random bytes', () => randomBytes(64 * 1024)],
    ['a truncated segment', () => segment.subarray(0, 3000)],
    ['a few bytes of a segment', () => segment.subarray(0, 20)],
    ['empty input', () => Buffer.alloc(0)],
  ])('rejects %s with MediaInputError', async (_what, input) => {
    const err = await runFfmpeg(stage, { input: input(), timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaInputError);
  });

  it('tells our own failure (bad option) from bad input', async () => {
    const err = await runFfmpeg([...stage.slice(0, -1), '-no_such_option', '1', 'pipe:1'], { input: segment, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaProcessError);
    expect(err).not.toBeInstanceOf(MediaInputError);
    expect((err as MediaProcessError).stderrTail).toMatch(/no_such_option/);
  });

  it('reports a missing binary as a start failure', async () => {
    const err = await runFfmpeg(['-version'], { timeoutMs: 5000, ffmpegPath: '/nonexistent/ffmpeg' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaProcessError);
    expect((err as Error).message).toMatch(/cannot run/);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    const run = runFfmpeg(['-hide_banner', '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-f', 'null', '-'], { timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await expect(run).rejects.toThrow(/aborted/);
  });
});
