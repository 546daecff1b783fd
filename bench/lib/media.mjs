// The benchmark's media: a generated 1280x720 30 fps H.264 + AAC clip (key frame every 2 s) and its
// 2 s MPEG-TS segments, cut by the same segmenter arguments ingest uses. Nothing is downloaded.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSegmentListLine, segmenterArgs, testSourceArgs } from '@livemesh/media';
import { runToEnd } from './proc.mjs';

/**
 * Generates `seconds` of 720p30 (or `width`x`height` at `fps`) into `dir` and cuts it; returns the
 * clip path and the segments. `name` keeps two clips in one directory apart.
 */
export async function makeMedia(dir, seconds, { width = 1280, height = 720, fps = 30, name = 'clip' } = {}) {
  const clip = join(dir, `${name}.ts`);
  const started = performance.now();
  await runToEnd('ffmpeg', testSourceArgs({ width, height, fps, durationSec: seconds, output: { file: clip }, realtime: false, format: 'mpegts' }));
  const generatedMs = performance.now() - started;
  const { stdout } = await runToEnd('ffmpeg', segmenterArgs({ input: { file: clip }, segmentSeconds: 2, outputPattern: join(dir, `${name}_seg_%04d.ts`), listTarget: 'pipe:1' }));
  const segments = [];
  for (const line of stdout.toString('utf8').split('\n')) {
    const e = parseSegmentListLine(line);
    if (!e) continue;
    const data = await readFile(join(dir, e.file));
    segments.push({ file: join(dir, e.file), start: e.start, duration: e.end - e.start, data });
  }
  if (segments.length === 0) throw new Error('the segmenter produced no segments');
  const bytes = segments.map((s) => s.data.byteLength);
  return {
    clip,
    seconds,
    segments,
    generatedMs,
    describe: {
      source: `testsrc2 ${width}x${height} ${fps} fps, H.264 (libx264 veryfast, key frame every 2 s) + AAC 64 kb/s 48 kHz stereo, ${seconds} s, MPEG-TS`,
      segments: segments.length,
      segmentBytes: { min: Math.min(...bytes), max: Math.max(...bytes), mean: Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length) },
    },
  };
}
