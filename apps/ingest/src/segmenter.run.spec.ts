import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@nestjs/common';
import { runFfmpeg, type SegmentListEntry } from '@livemesh/media';
import type { RunTimeline } from './ingest.cursor.js';
import { SegmenterRun, audioNeedsReencode, reportedAudio, type RunExit, type RunSink } from './segmenter.run.js';

describe('the source audio ingest re-encodes', () => {
  // Lines of ffmpeg 5.1's input report, as the reader prints them.
  it.each([
    ['  Stream #0:1: Audio: aac (LC), 48000 Hz, stereo, fltp, 128 kb/s', 'aac (LC)', false],
    ['  Stream #0:1[0x101]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, stereo, fltp', 'aac (LC)', false],
    ['  Stream #0:1: Audio: aac (HE-AAC), 48000 Hz, stereo, fltp', 'aac (HE-AAC)', true],
    ['  Stream #0:1: Audio: aac, 44100 Hz, stereo, fltp', 'aac', false],
    ['  Stream #0:1: Audio: mp3, 44100 Hz, stereo, fltp, 96 kb/s', 'mp3', true],
    ['  Stream #0:1[0x101](eng): Audio: mp2 ([3][0][0][0] / 0x0003), 48000 Hz, stereo, s16p, 192 kb/s', 'mp2', true],
    ['  Stream #0:0: Video: h264 (High), yuv420p(progressive), 320x240, 25 fps', undefined, false],
  ])('%s -> %s', (line, reported, reencode) => {
    expect(reportedAudio(line)).toBe(reported);
    expect(audioNeedsReencode(reportedAudio(line))).toBe(reencode);
  });
});

// A run against real ffmpeg, with a stand-in for its own RunSink: what the run hands on, in what order.
describe('SegmenterRun', () => {
  const T = 30_000;
  let dir: string;
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as unknown as Logger;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemesh-run-spec-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Plans every run at output offset 100 and keeps what it is handed (the file's size when pushed). */
  class StandInSink implements RunSink {
    readonly planned: RunTimeline[] = [];
    readonly pushed: { entry: SegmentListEntry; timeline: RunTimeline; bytes: number }[] = [];
    planRun(sourceStart: number | undefined): Promise<RunTimeline> {
      const t = { offset: 100, sourceStart, continued: true };
      this.planned.push(t);
      return Promise.resolve(t);
    }
    push(path: string, entry: SegmentListEntry, timeline: RunTimeline): void {
      this.pushed.push({ entry, timeline, bytes: statSync(path).size });
    }
  }

  async function runOn(clipArgs: string[], name: string, segmentSeconds: number): Promise<{ sink: StandInSink; exit: RunExit }> {
    const clip = join(dir, `${name}.ts`);
    await runFfmpeg([...clipArgs, '-f', 'mpegts', `file:${clip}`], { timeoutMs: T });
    const runDir = await mkdtemp(join(dir, `${name}-`));
    const sink = new StandInSink();
    const run = new SegmenterRun(
      { streamId: name, ffmpegPath: 'ffmpeg', input: { url: `file:${clip}`, protocols: ['file'] }, segmentSeconds, dir: runDir, rwTimeoutMs: 15_000, redact: (t) => t, sink },
      quiet,
    );
    return { sink, exit: await run.start() };
  }

  const source = (seconds: number, gopFrames: number) => [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(gopFrames), '-keyint_min', String(gopFrames), '-sc_threshold', '0',
  ];

  it('plans its timeline once, then hands every segment to the sink in order, on that timeline, file in place', async () => {
    // Shorter than the long-segment limit (2.5 x 2 s) in all: a file is read faster than real time,
    // so ffmpeg's last progress report (stderr) can overtake the list lines (stdout).
    const { sink, exit } = await runOn(source(4.8, 25), 'copy', 2);
    expect(exit).toMatchObject({ code: 0, gopTooLong: false });
    expect(sink.planned).toEqual([{ offset: 100, sourceStart: expect.any(Number) as number, continued: true }]);
    // The segmenter's own clock (rebased to 0), cut every 2 s on the 1 s key frames: back to back.
    expect(sink.pushed.map((p) => [p.entry.start, p.entry.end])).toEqual([
      [0, 2],
      [2, 4],
      [4, expect.closeTo(4.8, 1) as number],
    ]);
    for (const p of sink.pushed) {
      expect(p.timeline).toBe(sink.planned[0]);
      expect(p.bytes).toBeGreaterThan(0);
    }
  }, T);

  it('ends itself on a segment far longer than the segment length, saying the GOPs are too long', async () => {
    // A key frame every 10 s against 1 s segments: the first cut comes 10 s in.
    const { sink, exit } = await runOn(source(25, 250), 'gop10', 1);
    expect(exit.gopTooLong).toBe(true);
    expect(sink.pushed.length).toBeLessThanOrEqual(1);
  }, T);
});
