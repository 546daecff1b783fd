// Segments the way ingest cuts them, without running ingest: a generated MPEG-TS clip cut on its
// 2 s key frames by the same segmenter arguments (copy, source timeline), for suites that feed
// delivery or a stage directly.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SegmentMeta } from '@livemesh/contracts';
import { parseSegmentListLine, probe, runFfmpeg, segmenterArgs, testSourceArgs, type ProbeResult } from '@livemesh/media';

export interface CutSegment {
  /** Position in the clip, from 0. */
  seq: number;
  /** Source-timeline start and end, seconds. */
  start: number;
  end: number;
  data: Uint8Array;
}

/** Writes a `durationSec` 25 fps clip (H.264 + AAC, 320x240 unless `size`) into `dir` and returns it cut into 2 s segments. */
export async function cutTestSegments(dir: string, durationSec: number, timeoutMs: number, size = { width: 320, height: 240 }): Promise<CutSegment[]> {
  const clip = join(dir, 'clip.ts');
  await runFfmpeg(testSourceArgs({ ...size, fps: 25, durationSec, output: { file: clip }, realtime: false, format: 'mpegts' }), { timeoutMs });
  const cut = await runFfmpeg(segmenterArgs({ input: { file: clip }, segmentSeconds: 2, outputPattern: join(dir, 'seg_%d.ts'), listTarget: 'pipe:1' }), { timeoutMs });
  const list = cut.stdout.toString('utf8').split('\n').map(parseSegmentListLine).filter((e) => e !== undefined);
  const segments: CutSegment[] = [];
  for (const [seq, e] of list.entries()) {
    segments.push({ seq, start: e.start, end: e.end, data: await readFile(join(dir, e.file.split('/').pop()!)) });
  }
  return segments;
}

/** A segment as ingest hands it to a stream's first hop, with its ffprobe result for comparing a stage's output. */
export interface StageInput {
  meta: SegmentMeta;
  data: Uint8Array;
  probe: ProbeResult;
}

/**
 * `segments` as the hop-0 input of stream `streamId`. Ingest stamps a segment when it hands it
 * over; a suite hands these fixtures over many times, minutes apart, so `ingestTime` reads the
 * clock each time the meta is read (spread into a publish): stages drop a segment past its
 * latency budget, and a fixture cut minutes ago would be one.
 */
export async function stageInputs(segments: CutSegment[], streamId: string, timeoutMs: number): Promise<StageInput[]> {
  const inputs: StageInput[] = [];
  for (const s of segments) {
    const meta = { streamId, seq: s.seq, hop: 0, rendition: 'main', pts: s.start, duration: s.end - s.start, epoch: 0, chainVersion: 1 } as SegmentMeta;
    Object.defineProperty(meta, 'ingestTime', { get: () => Date.now(), enumerable: true });
    inputs.push({ meta, data: s.data, probe: await probe(s.data, { timeoutMs, format: 'mpegts' }) });
  }
  return inputs;
}

/** The meta of seq `seq` of `streamId` as the last hop writes it on lm.out: 2 s segments, one timeline, stamped now. */
export function outputMeta(streamId: string, seq: number, over: Partial<SegmentMeta> = {}): SegmentMeta {
  return { streamId, seq, hop: 1, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1, ...over };
}
