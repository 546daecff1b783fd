// Segments the way ingest cuts them, without running ingest: a generated MPEG-TS clip cut on its
// 2 s key frames by the same segmenter arguments (copy, source timeline), for suites that feed
// delivery or a stage directly.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSegmentListLine, runFfmpeg, segmenterArgs, testSourceArgs } from '@livemesh/media';

export interface CutSegment {
  /** Position in the clip, from 0. */
  seq: number;
  /** Source-timeline start and end, seconds. */
  start: number;
  end: number;
  data: Uint8Array;
}

/** Writes a `durationSec` 320x240 25 fps clip (H.264 + AAC) into `dir` and returns it cut into 2 s segments. */
export async function cutTestSegments(dir: string, durationSec: number, timeoutMs: number): Promise<CutSegment[]> {
  const clip = join(dir, 'clip.ts');
  await runFfmpeg(testSourceArgs({ width: 320, height: 240, fps: 25, durationSec, output: { file: clip }, realtime: false, format: 'mpegts' }), { timeoutMs });
  const cut = await runFfmpeg(segmenterArgs({ input: { file: clip }, segmentSeconds: 2, outputPattern: join(dir, 'seg_%d.ts'), listTarget: 'pipe:1' }), { timeoutMs });
  const list = cut.stdout.toString('utf8').split('\n').map(parseSegmentListLine).filter((e) => e !== undefined);
  const segments: CutSegment[] = [];
  for (const [seq, e] of list.entries()) {
    segments.push({ seq, start: e.start, end: e.end, data: await readFile(join(dir, e.file.split('/').pop()!)) });
  }
  return segments;
}
