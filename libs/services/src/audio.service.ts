import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { carriedAudioStageArgs, escapeFilterValue, readAdtsTrack, segmentStageArgs, splitAdtsFrames } from '@livemesh/media';
import { defineStage, serviceSpecOf } from '@livemesh/stage-sdk';
import { emitsOf } from './transfer.params.js';

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

/** A gain that moves linearly from g0 to g1 (linear factors) over [t0, t0 + d] on the source timeline. */
export interface GainRamp {
  g0: number;
  g1: number;
  t0: number;
  d: number;
}

function rampExpression(r: GainRamp): string {
  const n = (x: number) => Number(x.toFixed(6)).toString();
  return Math.abs(r.g1 - r.g0) < 1e-6 ? n(r.g1) : `${n(r.g0)}+(${n(r.g1 - r.g0)})*clip((t-${n(r.t0)})/${n(Math.max(r.d, 0.001))},0,1)`;
}

/**
 * The volume filter for one ramp: the previous segment ended at g0, so the level never jumps at a
 * segment join.
 */
export function volumeRamp(g0: number, g1: number, t0: number, d: number): string {
  return `volume=volume=${escapeFilterValue(rampExpression({ g0, g1, t0, d }))}:eval=frame`;
}

/** The volume filter for consecutive ramps, each heard until its `until` (source seconds; the last one's is ignored). */
export function volumeRamps(parts: (GainRamp & { until: number })[]): string {
  const expr = parts.slice(0, -1).reduceRight((rest, r) => `if(lt(t,${Number(r.until.toFixed(6))}),${rampExpression(r)},${rest})`, rampExpression(parts.at(-1)!));
  return `volume=volume=${escapeFilterValue(expr)}:eval=frame`;
}

const dbToLinear = (db: number) => 10 ** (db / 20);

/*
 * Joins without clicks. AAC frames overlap by half a window: decoding a frame needs its
 * predecessor, and an encoded frame is only right where the encoder saw the real signal on both
 * sides. A segment decoded and encoded on its own gets its first frame wrong (no predecessor) and
 * its last two wrong (silence after them), which is a click at every join. So each segment:
 * - decodes the last CARRIED_FRAMES frames of the previous segment in front of its own (the first
 *   of them only serves as a predecessor and is dropped), which puts PREFIX samples of real signal
 *   before its start;
 * - keeps the encoded packets from GUARD samples before its start, whose windows see that signal,
 *   up to the last packet with GUARD samples of real signal after it;
 * - leaves its last CARRIED_FRAMES frames (and its gain) for the next segment in ctx.carry.
 * Every segment's audio therefore starts and ends GUARD samples (about 43 ms) before its video:
 * the stream's audio stays one continuous track, segment to segment, with every packet encoded
 * from real signal on both sides. When the previous segment left nothing (it went to another
 * replica that has not finished, or the stream's timeline restarted), the prefix is silence: the
 * timeline still joins, and that one join may click.
 */
/** Samples per AAC-LC frame. */
const FRAME = 1024;
/** Real signal an encoded frame needs past its own start: its window and the encoder's look-ahead. */
const GUARD = 2 * FRAME;
/** Samples of the previous segment decoded in front of a segment: GUARD pre-roll + GUARD held back. */
const PREFIX = 2 * GUARD;
const CARRIED_FRAMES = 1 + PREFIX / FRAME;
/** How long a segment waits for its predecessor's carry (another replica may still be on it), at most. */
const CARRY_WAIT_MS = 1000;

/** What a segment leaves for the next (the carry's meta; its data is CARRIED_FRAMES ADTS frames). */
interface AudioCarry {
  sampleRate: number;
  channels: number;
  /** Source time just after the segment's last sample. */
  endSeconds: number;
  /** Its gain ramp, linear factors over [t0, t0 + d]: the carried samples are heard with it. */
  ramp: { g0: number; g1: number; t0: number; d: number };
  state: AudioState;
}

function isAudioCarry(v: Record<string, unknown>): v is AudioCarry & Record<string, unknown> {
  const r = v.ramp as Record<string, unknown> | undefined;
  const st = v.state as Record<string, unknown> | undefined;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  return num(v.sampleRate) && num(v.channels) && num(v.endSeconds) && !!r && num(r.g0) && num(r.g1) && num(r.t0) && num(r.d) && !!st && num(st.gainDb);
}

/** Which encoded packets of a run over `prefix + samples` samples are kept: see the comment above. */
export function keptPackets(prefix: number, samples: number): { from: number; to: number; heldSamples: number } {
  // Packet k >= 1 starts at sample (k - 1) * FRAME of the run (packet 0 is the encoder's priming).
  const from = 1 + (prefix > 0 ? (prefix - GUARD) / FRAME : 0);
  const cut = Math.max(prefix > 0 ? prefix - GUARD : 0, Math.floor((prefix + samples - GUARD) / FRAME) * FRAME);
  return { from, to: 1 + cut / FRAME, heldSamples: prefix + samples - cut };
}

export const audioStage = defineStage<AudioParams>({
  name: 'audio',
  params: paramSchema,
  transfer: { emits: emitsOf('audioGainDb', 'muted') },
  async process(ctx) {
    const p = ctx.params;
    const { pts, duration } = ctx.segment.meta;
    const track = readAdtsTrack(ctx.segment.data);
    const probe = 'unusable' in track ? undefined : await ctx.probe();
    // An ADTS header cannot say that the decoder doubles the rate (HE-AAC): the probe can.
    const probedRate = Number(probe?.streams.find((st) => st.codec_type === 'audio')?.sample_rate);
    const usable = 'unusable' in track ? undefined : probedRate === track.sampleRate ? track : undefined;
    const previous = usable ? await ctx.carry.previous({ waitMs: Math.min(CARRY_WAIT_MS, duration * 500) }) : undefined;
    const carried = previous && isAudioCarry(previous.meta) ? { meta: previous.meta as AudioCarry, data: previous.data } : undefined;
    // Another replica's carry knows the gain better than this replica's cache.
    const state = carried?.meta.state ?? (ctx.state.get('audio') as AudioState | undefined) ?? { gainDb: 0 };
    const g0Db = p.normalize ? state.gainDb : 0;
    const g1Db = p.normalize ? nextGainDb(state, p.targetLufs) : 0;
    const ramp = { g0: dbToLinear(g0Db + p.volumeDb), g1: dbToLinear(g1Db + p.volumeDb), t0: pts, d: duration };
    const filters: string[] = [];
    let measureFile: string | undefined;
    if (p.normalize) {
      measureFile = join(await ctx.workDir(), 'loudness.txt');
      // Measure the input (before any gain) for the next segment's gain.
      filters.push('ebur128=metadata=1', `ametadata=mode=print:key=lavfi.r128.I:file=${escapeFilterValue(measureFile)}`);
    }

    let data: Uint8Array;
    if (!usable) {
      if (p.mute) filters.push('volume=volume=0');
      else filters.push(volumeRamp(ramp.g0, ramp.g1, pts, duration));
      ctx.log.debug(`audio joins not carried: ${'unusable' in track ? track.unusable : `ADTS says ${track.sampleRate} Hz, the decoder ${probedRate} Hz`}`);
      data = await ctx.ffmpeg(plainAudioArgs(filters.join(','), p.bitrateKbps));
    } else {
      const R = usable.sampleRate;
      const frames = carried ? splitAdtsFrames(carried.data) : undefined;
      const joins = carried && frames && !('unusable' in frames) && frames.frames.length === CARRIED_FRAMES &&
        carried.meta.sampleRate === R && carried.meta.channels === usable.channels &&
        Math.abs(carried.meta.endSeconds - usable.startSeconds) * R < FRAME / 2;
      const first = Math.round(usable.startSeconds * R);
      // The first segment (or one at the very start of the timeline) has nothing before it.
      const prefix = ctx.segment.meta.seq === 0 || first < PREFIX ? 0 : PREFIX;
      const startSample = first - prefix;
      const before = joins ? carried.meta.ramp : ramp;
      if (p.mute) filters.push('volume=volume=0');
      else filters.push(volumeRamps([{ ...before, until: usable.startSeconds }, { ...ramp, until: Infinity }]));
      const adtsFile = join(await ctx.workDir(), 'audio.adts');
      await writeFile(adtsFile, Buffer.concat([...(joins ? frames.frames : []), ...usable.frames]));
      const keep = keptPackets(prefix, usable.samples);
      data = await ctx.ffmpeg(carriedAudioStageArgs({
        adtsFile,
        dropSamples: joins ? FRAME : 0,
        padSamples: joins ? 0 : prefix,
        sampleRate: R,
        startSample,
        audioFilter: filters.join(','),
        keepPackets: keep,
        audio: { codec: 'aac', bitrateKbps: p.bitrateKbps },
      }));
      if (prefix > 0 && !joins) ctx.log.debug(`audio join before seq ${ctx.segment.meta.seq} filled with silence: ${previous ? 'the carry did not continue this segment' : 'no carry from the previous segment'}`);
    }

    const loudness = measureFile ? parseIntegratedLoudness(await readFile(measureFile, 'utf8').catch(() => '')) : undefined;
    const next: AudioState = { gainDb: g1Db, ...(loudness !== undefined && Number.isFinite(loudness) ? { loudness } : {}) };
    if (p.normalize) ctx.state.set('audio', next);
    if (usable) {
      const meta: AudioCarry = { sampleRate: usable.sampleRate, channels: usable.channels, endSeconds: usable.startSeconds + usable.samples / usable.sampleRate, ramp, state: next };
      ctx.carry.leave({ meta: { ...meta }, data: Buffer.concat(usable.frames.slice(-CARRIED_FRAMES)) });
    }
    return { data, transfer: { ...ctx.transfer, audioGainDb: Number((g1Db + p.volumeDb).toFixed(2)), ...(p.mute ? { muted: true } : {}) } };
  },
});

export const audioSpec = serviceSpecOf(audioStage, {
  version: '1.2.0',
  description: 'Loudness normalisation (EBU R128, gain carried across segments), volume and mute, re-encoded without clicks at segment joins; video copied.',
  builtIn: true,
});

/**
 * One segment on its own (audio that is not AAC in ADTS): exact timestamps, but a join may click.
 * A fresh AAC encoder emits one priming packet before the first real one, timed one packet ahead
 * of the input: dropping it leaves exactly the input's packets on exactly its timestamps.
 */
function plainAudioArgs(audioFilter: string, bitrateKbps: number): string[] {
  return segmentStageArgs({ video: 'copy', audio: { codec: 'aac', bitrateKbps }, audioFilter, keepAudioPackets: { from: 1 } });
}
