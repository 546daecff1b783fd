import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceSpec } from '@livemesh/contracts';
import { escapeFilterValue, segmentStageArgs } from '@livemesh/media';
import { defineStage } from '@livemesh/stage-sdk';

export interface AudioParams {
  /** Follow EBU R128: steer the gain towards targetLufs, segment by segment. */
  normalize: boolean;
  /** Integrated loudness to aim for, LUFS (EBU R128 broadcast: -23; streaming platforms: about -14..-16). */
  targetLufs: number;
  /** Fixed gain on top, dB. */
  volumeDb: number;
  mute: boolean;
  bitrateKbps: number;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    normalize: { type: 'boolean', default: true },
    targetLufs: { type: 'number', minimum: -40, maximum: -5, default: -23 },
    volumeDb: { type: 'number', minimum: -60, maximum: 20, default: 0 },
    mute: { type: 'boolean', default: false },
    bitrateKbps: { type: 'integer', minimum: 32, maximum: 320, default: 128 },
  },
};

/*
 * Known limit: each segment's audio goes through a fresh AAC encoder. Timestamps join exactly (the
 * priming packet is dropped, see below) and the gain never jumps (it ramps from where the previous
 * segment ended), but the encoder sees silence past the segment's end, so the MDCT frames on both
 * sides of a join were not computed from one signal: measured on a 440 Hz tone, the largest sample
 * step at a join is about 9x the tone's own. Removing it needs one encoder per stream kept warm
 * across segments (ctx.state), handing each segment's last frame to the next one.
 */
export const audioSpec: ServiceSpec = {
  name: 'audio',
  version: '1.0.0',
  description: 'Loudness normalisation (EBU R128, gain carried across segments), volume and mute; video copied.',
  paramSchema,
  input: 'segments',
  minReplicas: 0,
  maxReplicas: 8,
  builtIn: true,
};

/** Below this a segment is treated as silence and leaves the gain where it was (EBU R128's absolute gate is -70 LUFS). */
const SILENCE_LUFS = -60;
/** Largest normalisation gain, either way, dB. */
const MAX_GAIN_DB = 20;
/** Share of the distance to the wanted gain covered per segment: slow enough that speech pauses and loud moments do not pump. */
const SMOOTHING = 0.5;

interface AudioState {
  /** Normalisation gain at the end of the last segment, dB. */
  gainDb: number;
  /** Integrated loudness of the last segment, LUFS. */
  loudness?: number;
}

/** The normalisation gain for the next segment: a step towards what the last measured loudness asks for. */
export function nextGainDb(state: AudioState, targetLufs: number): number {
  if (state.loudness === undefined || state.loudness < SILENCE_LUFS) return state.gainDb;
  const wanted = Math.max(-MAX_GAIN_DB, Math.min(MAX_GAIN_DB, targetLufs - state.loudness));
  return state.gainDb + SMOOTHING * (wanted - state.gainDb);
}

/** The last `lavfi.r128.I=<x>` that ametadata printed: the segment's integrated loudness. */
export function parseIntegratedLoudness(log: string): number | undefined {
  const all = [...log.matchAll(/lavfi\.r128\.I=(-?\d+(?:\.\d+)?|-inf)/g)];
  const last = all.at(-1)?.[1];
  if (last === undefined) return undefined;
  return last === '-inf' ? -Infinity : Number(last);
}

/**
 * A gain that moves linearly from g0 to g1 (both linear factors) over [t0, t0 + d] on the source
 * timeline: the previous segment ended at g0, so the level never jumps at a segment join.
 */
export function volumeRamp(g0: number, g1: number, t0: number, d: number): string {
  const n = (x: number) => Number(x.toFixed(6)).toString();
  const expr = Math.abs(g1 - g0) < 1e-6 ? n(g1) : `${n(g0)}+(${n(g1 - g0)})*clip((t-${n(t0)})/${n(Math.max(d, 0.001))},0,1)`;
  return `volume=volume=${escapeFilterValue(expr)}:eval=frame`;
}

const dbToLinear = (db: number) => 10 ** (db / 20);

export const audioStage = defineStage<AudioParams>({
  name: 'audio',
  params: paramSchema,
  async process(ctx) {
    const p = ctx.params;
    const { pts, duration } = ctx.segment.meta;
    // A cache per stream on this replica: another replica starts from 0 dB and converges within a few segments.
    const state = (ctx.state.get('audio') as AudioState | undefined) ?? { gainDb: 0 };
    const g0Db = p.normalize ? state.gainDb : 0;
    const g1Db = p.normalize ? nextGainDb(state, p.targetLufs) : 0;
    const filters: string[] = [];
    let measureFile: string | undefined;
    if (p.normalize) {
      measureFile = join(await ctx.workDir(), 'loudness.txt');
      // Measure the input (before any gain) for the next segment's gain.
      filters.push('ebur128=metadata=1', `ametadata=mode=print:key=lavfi.r128.I:file=${escapeFilterValue(measureFile)}`);
    }
    if (p.mute) filters.push('volume=volume=0');
    else filters.push(volumeRamp(dbToLinear(g0Db + p.volumeDb), dbToLinear(g1Db + p.volumeDb), pts, duration));
    const args = segmentStageArgs({ video: 'copy', audio: { codec: 'aac', bitrateKbps: p.bitrateKbps }, audioFilter: filters.join(',') });
    // A fresh AAC encoder emits one priming packet before the first real one, timed one packet
    // ahead of the input: dropping it leaves exactly the input's packets on exactly its timestamps,
    // so segments neither overlap nor leave a gap.
    args.splice(args.lastIndexOf('-f'), 0, '-bsf:a', 'noise=drop=eq(n\\,0)');
    const data = await ctx.ffmpeg(args);
    if (measureFile) {
      const loudness = parseIntegratedLoudness(await readFile(measureFile, 'utf8').catch(() => ''));
      ctx.state.set('audio', { gainDb: g1Db, loudness } satisfies AudioState);
    }
    return { data, transfer: { ...ctx.transfer, audioGainDb: Number((g1Db + p.volumeDb).toFixed(2)), ...(p.mute ? { muted: true } : {}) } };
  },
});
