import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaInputError, ValidationFailedError, type TransferDecl } from '@livemesh/contracts';
import { escapeFilterValue, inputArgs, mpegtsOnSourceTimeline, x264OnSourceTimeline, type ProbeResult } from '@livemesh/media';
import { fpsGridFilter, sourceFrameRate } from './fps.grid.js';
import { defineStage, type ParamSchema, type StageContext, type StageDefinition, type StageResult } from './stage.definition.js';

export type FrameFormat = 'rgb24' | 'gray' | 'jpeg';

/** One decoded picture. */
export interface Frame {
  /** 0-based position among the frames decoded from this segment. */
  index: number;
  /** Presentation time, seconds on the source timeline. */
  pts: number;
  width: number;
  height: number;
  format: FrameFormat;
  /** rgb24: width*height*3 bytes; gray: width*height; jpeg: one JPEG file. */
  data: Uint8Array;
}

/** Which frames a stage gets and how. */
export interface FrameSampling {
  /**
   * Frames per second to hand over, on a grid counted from 0 on the source timeline (1 gives the
   * frames at whole seconds), so neighbouring segments never hand over the same instant twice.
   * Leave out for every frame.
   */
  fps?: number;
  /** Scale to this width (height follows the aspect ratio, even); leave out for the source size. */
  width?: number;
  format: FrameFormat;
}

export interface FrameStageInput<P extends object> {
  name: string;
  params?: ParamSchema;
  /** Frames to decode for a segment; may depend on the hop's parameters. */
  sample: FrameSampling | ((params: P) => FrameSampling);
  /**
   * Called for every frame in order. Return nothing to report only (the segment then continues
   * unchanged, byte for byte); return a new picture of the same size and format (rgb24 or gray)
   * to replace the frame, and the SDK re-encodes the segment from the returned frames.
   */
  onFrame(frame: Frame, ctx: StageContext<P>): Promise<Uint8Array | void> | Uint8Array | void;
  /**
   * After the last frame of a segment (a summary, a state update). What it returns in `transfer`
   * is laid over the segment's transfer parameters for the next hop, as a segment stage's result is.
   */
  onSegmentEnd?(frames: number, ctx: StageContext<P>): Promise<FrameSegmentEnd | void> | FrameSegmentEnd | void;
  /** The transfer parameters the stage emits and reads, as a segment stage declares them. */
  transfer?: TransferDecl;
}

/** What onSegmentEnd may hand on. */
export interface FrameSegmentEnd {
  /** Transfer parameters to emit, each declared in the stage's `transfer.emits`. */
  transfer?: Record<string, unknown>;
}

/** Frame bytes a segment may decode to; above it the stage must sample fewer or smaller frames. */
const MAX_DECODED_BYTES = 256 * 1024 * 1024;

/**
 * Declares a frame stage: the SDK decodes each segment's frames with ffmpeg at the chosen rate
 * and size and hands them over one by one. A frame stage is a segment stage underneath, so it
 * gets everything a segment stage gets (retries, dead letters, drain, ctx.report).
 */
export function defineFrameStage<P extends object = Record<string, unknown>>(input: FrameStageInput<P>): StageDefinition<P> {
  if (typeof input.onFrame !== 'function') throw new ValidationFailedError(`stage ${input.name}: no onFrame function`, ['onFrame: must be a function']);
  return defineStage<P>({
    name: input.name,
    params: input.params,
    input: 'frames',
    ...(input.transfer ? { transfer: input.transfer } : {}),
    process: (ctx) => processFrames(input, ctx),
  });
}

async function processFrames<P extends object>(def: FrameStageInput<P>, ctx: StageContext<P>): Promise<StageResult> {
  const sampling = typeof def.sample === 'function' ? def.sample(ctx.params) : def.sample;
  // The in-process inspection usually knows size and rate; ffprobe only when it does not.
  const v = ctx.media.video;
  const known = v?.width && v.height && v.fps ? { width: v.width, height: v.height, fps: v.fps } : undefined;
  const probe = known ? undefined : await ctx.probe();
  const size = outputSize(known ? { width: known.width, height: known.height } : videoSize(probe!), sampling.width);
  const dir = await ctx.workDir();
  const ptsFile = join(dir, 'frames.txt');
  const raw = await ctx.ffmpeg(frameDecodeArgs(sampling, size, ptsFile, known?.fps ?? sourceFrameRate(probe!)), undefined, { expectOutput: false });
  const times = parseFrameTimes(await readFile(ptsFile, 'utf8').catch(() => ''));
  const pictures = sampling.format === 'jpeg' ? splitJpegs(raw) : splitRaw(raw, frameBytes(size, sampling.format));
  if (pictures.length !== times.length) {
    throw new MediaInputError(`decoded ${pictures.length} frame(s) but ffmpeg timed ${times.length}`, '', null);
  }
  let replaced: Uint8Array[] | undefined;
  for (let i = 0; i < pictures.length; i++) {
    const frame: Frame = { index: i, pts: times[i]!, width: size.width, height: size.height, format: sampling.format, data: pictures[i]! };
    const out = await def.onFrame(frame, ctx);
    if (out === undefined) continue;
    if (sampling.format === 'jpeg') throw new ValidationFailedError(`stage ${def.name}: cannot replace jpeg frames`, ['onFrame: return frames only with format rgb24 or gray']);
    if (out.byteLength !== frame.data.byteLength) {
      throw new ValidationFailedError(`stage ${def.name}: a returned frame has the wrong size`, [`onFrame: frame ${i} has ${out.byteLength} bytes, expected ${frame.data.byteLength} (${size.width}x${size.height} ${sampling.format})`]);
    }
    replaced ??= [...pictures];
    replaced[i] = out;
  }
  const end = await def.onSegmentEnd?.(pictures.length, ctx);
  const transfer = end?.transfer ? { transfer: { ...ctx.transfer, ...end.transfer } } : {};
  if (!replaced) return { data: ctx.segment.data, ...transfer };
  if (sampling.fps !== undefined || sampling.width !== undefined) {
    throw new ValidationFailedError(`stage ${def.name}: frames were replaced from a sampled decode`, ['sample: a stage that returns frames must take every frame at the source size (no fps, no width)']);
  }
  const segmentFile = join(dir, 'segment.ts');
  await writeFile(segmentFile, ctx.segment.data);
  const data = await ctx.ffmpeg(frameEncodeArgs({ size, format: sampling.format as Exclude<FrameFormat, 'jpeg'>, times, segmentFile }), concat(replaced));
  return { data, ...transfer };
}

function videoSize(probe: ProbeResult): { width: number; height: number } {
  const v = probe.streams.find((s) => s.codec_type === 'video');
  if (!v?.width || !v.height) throw new MediaInputError('segment has no video stream to take frames from', '', null);
  return { width: v.width, height: v.height };
}

export function outputSize(source: { width: number; height: number }, width?: number): { width: number; height: number } {
  if (width === undefined || width === source.width) return source;
  const even = (x: number) => Math.max(2, 2 * Math.round(x / 2));
  return { width: even(width), height: even((source.height * width) / source.width) };
}

export function frameBytes(size: { width: number; height: number }, format: Exclude<FrameFormat, 'jpeg'>): number {
  return size.width * size.height * (format === 'rgb24' ? 3 : 1);
}

/**
 * Segment on stdin -> frames on stdout, each frame's timestamp printed to `ptsFile` by the
 * metadata filter (raw frames carry none). `fps_mode passthrough` so that what the filter printed
 * and what comes out are the same frames.
 */
export function frameDecodeArgs(s: FrameSampling, size: { width: number; height: number }, ptsFile: string, sourceFps?: number): string[] {
  const filters: string[] = [];
  if (s.fps !== undefined) filters.push(fpsGridFilter(s.fps, sourceFps));
  filters.push(`scale=${size.width}:${size.height}`);
  // `print` lists a frame only when it carries metadata: tag every frame first.
  filters.push('metadata=mode=add:key=lm.frame:value=1', `metadata=mode=print:key=lm.frame:file=${escapeFilterValue(ptsFile)}`);
  const out = s.format === 'jpeg'
    ? ['-pix_fmt', 'yuvj420p', '-c:v', 'mjpeg', '-q:v', '4', '-f', 'image2pipe']
    : ['-pix_fmt', s.format, '-f', 'rawvideo'];
  return [
    '-copyts',
    ...inputArgs({ source: 'pipe', format: 'mpegts' }),
    '-map', '0:v:0',
    '-filter:v', filters.join(','),
    '-fps_mode', 'passthrough',
    ...out,
    'pipe:1',
  ];
}

/** `frame:N pts:P pts_time:T` lines of the metadata filter -> the T of each frame. */
export function parseFrameTimes(log: string): number[] {
  return [...log.matchAll(/^frame:\s*\d+\s+pts:\s*\S+\s+pts_time:\s*(-?[\d.]+)/gm)].map((m) => Number(m[1]));
}

export function splitRaw(data: Uint8Array, frameSize: number): Uint8Array[] {
  if (data.byteLength > MAX_DECODED_BYTES) throw new MediaInputError(`segment decodes to ${data.byteLength} bytes of frames, above ${MAX_DECODED_BYTES}`, '', null);
  if (data.byteLength % frameSize !== 0) throw new MediaInputError(`decoded ${data.byteLength} bytes, not a whole number of ${frameSize}-byte frames`, '', null);
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.byteLength; o += frameSize) out.push(data.subarray(o, o + frameSize));
  return out;
}

/**
 * An image2pipe MJPEG stream -> one JPEG per frame. Inside a JPEG's entropy-coded data every 0xFF
 * is followed by 0x00 (byte stuffing), so an FFD9 (end of image) can only be the marker itself.
 */
export function splitJpegs(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i + 1 < data.byteLength; i++) {
    if (data[i] !== 0xff) continue;
    const m = data[i + 1];
    if (m === 0xd8 && start < 0) start = i;
    else if (m === 0xd9 && start >= 0) {
      out.push(data.subarray(start, i + 2));
      start = -1;
      i++;
    }
  }
  return out;
}

export interface FrameEncodeOptions {
  size: { width: number; height: number };
  format: Exclude<FrameFormat, 'jpeg'>;
  /** Each frame's timestamp (source timeline), from the decode. */
  times: number[];
  /** The original segment, for its audio. */
  segmentFile: string;
}

/**
 * Raw frames on stdin (+ the original segment's audio, copied) -> MPEG-TS on stdout, every frame
 * back on its own timestamp: the timestamps go in as a concat-free `setpts` lookup so that a
 * variable frame rate survives too.
 */
export function frameEncodeArgs(o: FrameEncodeOptions): string[] {
  if (o.times.length === 0) throw new ValidationFailedError('invalid frame encode', ['no frames']);
  // setpts by frame number: N-th frame gets times[N] (a piecewise expression, evaluated per frame).
  const lookup = o.times.reduceRight((acc, t, i) => (i === o.times.length - 1 ? String(t) : `if(eq(N,${i}),${t},${acc})`), '');
  const rate = o.times.length > 1 ? Math.max(1, Math.round((o.times.length - 1) / (o.times.at(-1)! - o.times[0]! || 1))) : 25;
  const hardening = ['-max_alloc', String(512 * 1024 * 1024), '-probesize', '5000000', '-analyzeduration', '5000000'];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-copyts',
    ...hardening, '-protocol_whitelist', 'pipe',
    '-f', 'rawvideo', '-pix_fmt', o.format, '-video_size', `${o.size.width}x${o.size.height}`, '-framerate', String(rate),
    '-i', 'pipe:0',
    // `file:` so that the path is never read as another protocol or an option.
    ...hardening, '-protocol_whitelist', 'file', '-f', 'mpegts', '-i', `file:${o.segmentFile}`,
    '-map', '0:v:0',
    '-map', '1:a:0?',
    // 90 kHz first: in the raw input's 1/framerate time base every timestamp would be rounded to the frame grid.
    '-filter:v', `settb=1/90000,setpts=round((${escapeFilterValue(lookup)})/TB),format=yuv420p`,
    ...x264OnSourceTimeline({ preset: 'veryfast' }, '1/90000'),
    '-c:a', 'copy',
    ...mpegtsOnSourceTimeline(),
  ];
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}
