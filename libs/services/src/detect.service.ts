import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeFilterValue, inputArgs } from '@livemesh/media';
import { defineStage, serviceSpecOf } from '@livemesh/stage-sdk';
import { emitsOf } from './transfer.params.js';

export interface DetectParams {
  black: boolean;
  freeze: boolean;
  silence: boolean;
  scenes: boolean;
  /** Shortest black / frozen / silent stretch reported, seconds. */
  minSeconds: number;
  /** Scene-change score (0-100) above which a cut is reported. */
  sceneThreshold: number;
  /** Audio below this level is silence, dB. */
  silenceDb: number;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    black: { type: 'boolean', default: true },
    freeze: { type: 'boolean', default: true },
    silence: { type: 'boolean', default: true },
    scenes: { type: 'boolean', default: true },
    minSeconds: { type: 'number', minimum: 0.1, maximum: 10, default: 0.5 },
    sceneThreshold: { type: 'number', minimum: 1, maximum: 100, default: 10 },
    silenceDb: { type: 'number', minimum: -90, maximum: 0, default: -50 },
  },
};

export type DetectionType = 'black' | 'freeze' | 'silence' | 'scene';

/** One finding. A stretch that runs past the segment's edge has no start (it began earlier) or no end (it goes on). */
export interface Detection {
  type: DetectionType;
  start?: number;
  end?: number;
  score?: number;
}

const STARTS: Record<string, DetectionType> = {
  'lavfi.black_start': 'black',
  'lavfi.freezedetect.freeze_start': 'freeze',
  'lavfi.silence_start': 'silence',
};
const ENDS: Record<string, DetectionType> = {
  'lavfi.black_end': 'black',
  'lavfi.freezedetect.freeze_end': 'freeze',
  'lavfi.silence_end': 'silence',
};

/** The metadata filters' print-out -> findings, a start paired with the next end of its type. */
export function parseDetections(log: string): Detection[] {
  const out: Detection[] = [];
  const open = new Map<DetectionType, Detection>();
  let sceneScore: number | undefined;
  for (const line of log.split('\n')) {
    const m = /^(lavfi\.[\w.]+)=(-?[\d.]+)/.exec(line.trim());
    if (!m) continue;
    const [, key, raw] = m as unknown as [string, string, string];
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (key === 'lavfi.scd.score') sceneScore = value;
    else if (key === 'lavfi.scd.time') out.push({ type: 'scene', start: value, ...(sceneScore !== undefined ? { score: sceneScore } : {}) });
    else if (STARTS[key]) {
      const d: Detection = { type: STARTS[key] };
      d.start = value;
      open.set(d.type, d);
      out.push(d);
    } else if (ENDS[key]) {
      const type = ENDS[key];
      const d = open.get(type);
      if (d) {
        d.end = value;
        open.delete(type);
      } else out.push({ type, end: value });
    }
  }
  return out;
}

/**
 * The scene cuts strictly after the segment's first frame and before its end (a segment opens on a
 * key frame anyway), ascending, in milliseconds precision, at most 64 (TRANSFER_SCHEMAS.sceneCuts).
 */
export function sceneCutsWithin(found: readonly Detection[], meta: { pts: number; duration: number }): number[] {
  const times = found
    .filter((d) => d.type === 'scene' && d.start !== undefined && d.start > meta.pts + 0.001 && d.start < meta.pts + meta.duration)
    .map((d) => Number(d.start!.toFixed(3)));
  return [...new Set(times)].sort((a, b) => a - b).slice(0, 64);
}

export const detectStage = defineStage<DetectParams>({
  name: 'detect',
  params: paramSchema,
  input: 'frames',
  // The scene cuts inside the segment travel on: transcode forces a key frame at each.
  transfer: { emits: emitsOf('sceneCuts') },
  async process(ctx) {
    const p = ctx.params;
    const dir = await ctx.workDir();
    const vFile = join(dir, 'video.txt');
    const aFile = join(dir, 'audio.txt');
    const hasVideo = ctx.media.video !== undefined;
    const hasAudio = ctx.media.audio !== undefined;
    const n = (x: number) => Number(x.toFixed(3));
    const video = [
      ...(p.black ? [`blackdetect=d=${n(p.minSeconds)}:pix_th=0.1`] : []),
      ...(p.freeze ? [`freezedetect=n=-60dB:d=${n(p.minSeconds)}`] : []),
      ...(p.scenes ? [`scdet=t=${n(p.sceneThreshold)}`] : []),
    ];
    const audio = p.silence ? [`silencedetect=n=${n(p.silenceDb)}dB:d=${n(p.minSeconds)}`] : [];
    const useVideo = hasVideo && video.length > 0;
    const useAudio = hasAudio && audio.length > 0;
    if (useVideo || useAudio) {
      const args = [
        '-copyts',
        ...inputArgs({ source: 'pipe', format: 'mpegts' }),
        ...(useVideo ? ['-map', '0:v:0', '-filter:v', [...video, `metadata=mode=print:file=${escapeFilterValue(vFile)}`].join(',')] : []),
        ...(useAudio ? ['-map', '0:a:0', '-filter:a', [...audio, `ametadata=mode=print:file=${escapeFilterValue(aFile)}`].join(',')] : []),
        '-f', 'null', '-',
      ];
      // Analysis only: nothing on stdout, the findings are in the two print-outs.
      await ctx.ffmpeg(args, undefined, { expectOutput: false });
    }
    const text = async (f: string) => readFile(f, 'utf8').catch(() => '');
    const found = [...parseDetections(await text(vFile)), ...parseDetections(await text(aFile))];
    for (const d of found) await ctx.report('detection', { ...d }, `${d.type} ${d.start ?? '…'}-${d.end ?? '…'}`);
    return { data: ctx.segment.data, transfer: { sceneCuts: sceneCutsWithin(found, ctx.segment.meta) } };
  },
});

export const detectSpec = serviceSpecOf(detectStage, {
  version: '1.1.0',
  description: 'Reports black frames, frozen picture, silence and scene cuts as detection events and hands the scene cuts on (transfer sceneCuts); segments pass through unchanged.',
  builtIn: true,
});
