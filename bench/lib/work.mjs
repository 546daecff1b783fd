// The default chain's work with no bus: the same argument builders the watermark and transcode
// stages use (libs/media), run by the same runner, so a baseline differs from livemesh only by
// what the bus and the workers add.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { drawtextFilter, inputArgs, runFfmpeg, scaleFilter, segmentStageArgs, x264Args } from '@livemesh/media';

/** The default pipeline's parameters (libs/services DEFAULT_PIPELINE with the stages' defaults). */
export const WATERMARK = { text: 'livemesh', fontSize: 24, color: 'white', opacity: 0.8, position: 'bottom-right' };
export const TRANSCODE = { width: 854, height: 480, videoBitrateKbps: 1200, preset: 'veryfast' };

export async function watermarkTextFile(dir) {
  const f = join(dir, 'watermark.txt');
  await writeFile(f, WATERMARK.text, 'utf8');
  return f;
}

/** The watermark stage's ffmpeg arguments (segment on stdin, segment on stdout). */
export function watermarkArgs(textFile) {
  const { fontSize, color, opacity, position } = WATERMARK;
  return segmentStageArgs({ videoFilter: drawtextFilter({ textFile, fontSize, color, opacity, position }), video: { preset: 'veryfast' }, audio: 'copy' });
}

/** The transcode stage's work as a warm-engine request (what the worker sends lm-engine). */
export function transcodeTransform() {
  return {
    videoFilter: scaleFilter({ width: TRANSCODE.width, height: TRANSCODE.height, keepAspect: false }),
    video: { preset: TRANSCODE.preset, bitrateKbps: TRANSCODE.videoBitrateKbps },
    audio: 'copy',
  };
}

/** The transcode stage's ffmpeg arguments (the same request on the CLI path). */
export function transcodeArgs() {
  return segmentStageArgs(transcodeTransform());
}

/** The default chain's two filters in chain order (drawtext, then scale): what a fused hop runs. */
export function chainFilter(textFile) {
  const { fontSize, color, opacity, position } = WATERMARK;
  return `${drawtextFilter({ textFile, fontSize, color, opacity, position })},${scaleFilter({ width: TRANSCODE.width, height: TRANSCODE.height, keepAspect: false })}`;
}

/** The fused default chain's work on one segment as one ffmpeg: both filters, one 480p encode. */
export function fusedChainArgs(textFile) {
  return segmentStageArgs({ videoFilter: chainFilter(textFile), video: { preset: TRANSCODE.preset, bitrateKbps: TRANSCODE.videoBitrateKbps }, audio: 'copy' });
}

/**
 * One ffmpeg doing both filters on the whole stream: drawtext then scale, one 480p encode, a key
 * frame every 2 s (what a single-process live transcoder feeding HLS needs), audio copied.
 */
export function oneFfmpegArgs(clip, textFile, out, { realtime = false, seconds } = {}) {
  const filter = chainFilter(textFile);
  const input = inputArgs({ source: { file: clip } });
  // -re is an input option: it goes right before -i.
  if (realtime) input.splice(input.indexOf('-i'), 0, '-re');
  return [
    ...input,
    ...(seconds ? ['-t', String(seconds)] : []),
    '-map', '0:v:0', '-map', '0:a:0?',
    '-filter:v', filter,
    ...x264Args({ preset: TRANSCODE.preset, bitrateKbps: TRANSCODE.videoBitrateKbps }),
    '-force_key_frames', 'expr:gte(t,n_forced*2)',
    '-c:a', 'copy',
    '-y', '-f', 'mpegts', out,
  ];
}

/** Runs one stage's ffmpeg on a segment exactly as a worker does (runner, progress on, timeout). */
export async function runStageFfmpeg(args, input) {
  const { stdout } = await runFfmpeg(args, { input, timeoutMs: 120_000, onProgress: () => undefined, expectOutput: true });
  return stdout;
}

/** A FIFO that async consumers can wait on; take() resolves undefined once closed and empty. */
class Channel {
  items = [];
  waiters = [];
  closed = false;
  push(x) {
    const w = this.waiters.shift();
    if (w) w(x);
    else this.items.push(x);
  }
  close() {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }
  take() {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((r) => this.waiters.push(r));
  }
}

/**
 * The chain's per-segment work with no bus: watermark then transcode per segment, one ffmpeg per
 * segment per stage, the two stages pipelined like two workers (stage 2 works on segment k while
 * stage 1 does k+1), `parallel` segments at once per stage (a worker's STAGE_CONCURRENCY). With
 * `fused`, one stage instead: one ffmpeg per segment running both filters and one encode, the
 * work of the fused hop on the CLI path.
 * push() segments as they are cut, close() at the end; `done` resolves when all are finished.
 */
export function perSegmentPipeline(textFile, { onDone, parallel = 1, fused = false } = {}) {
  const stageArgs = fused ? [fusedChainArgs(textFile)] : [watermarkArgs(textFile), transcodeArgs()];
  const channels = Array.from({ length: stageArgs.length + 1 }, () => new Channel());
  const stages = stageArgs.map((args, i) => {
    const last = i === stageArgs.length - 1;
    return Promise.all(Array.from({ length: parallel }, async () => {
      for (let job = await channels[i].take(); job; job = await channels[i].take()) {
        const data = await runStageFfmpeg(args, job.data);
        if (last) onDone?.(job.key, performance.now());
        else channels[i + 1].push({ key: job.key, data });
      }
    })).then(() => channels[i + 1].close());
  });
  return {
    push: (key, data) => channels[0].push({ key, data }),
    close: () => channels[0].close(),
    done: Promise.all(stages).then(() => undefined),
  };
}

/** Runs `fn` over `items` with at most `parallel` at once. */
export async function pool(items, parallel, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}
