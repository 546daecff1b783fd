/**
 * The AAC audio of an MPEG-TS segment as its ADTS frames, read in-process (no ffmpeg run).
 *
 * Why a stage needs this: AAC frames overlap. Decoding frame k needs frame k-1, so a decoder that
 * starts on a segment's first frame gets that frame wrong, and an encoder that stops at a
 * segment's end encodes its last frame against silence. Both show as a click at every segment
 * join. A stage that re-encodes audio avoids it by decoding the previous segment's last frames
 * in front of its own (see the audio service); for that it needs the frames themselves, with the
 * exact time of the first one, which this reader gives.
 */
import { AUDIO_STREAM_TYPES, STREAM_TYPE_ADTS_AAC, firstProgramPid, pesHeader, pmtStreams, psiSection, walkTsPackets } from './ts.packets.js';

/** One segment's first AAC track. */
export interface AdtsTrack {
  /** Presentation time of the first frame, seconds (the PES timestamp on the 90 kHz clock). */
  startSeconds: number;
  /** Sample rate from the ADTS header. */
  sampleRate: number;
  channels: number;
  /** Each ADTS frame, header included, in decoding order. */
  frames: Uint8Array[];
  /** Samples per channel in all frames (1024 per raw data block). */
  samples: number;
}

/** Why a segment's audio cannot be read as ADTS frames: the caller falls back to ffmpeg alone. */
export interface AdtsUnusable {
  unusable: string;
}

const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
const SAMPLES_PER_BLOCK = 1024;

/**
 * Reads the first audio track of `ts` when it is AAC in ADTS (what ingest and every stage write).
 * Anything else, including a PMT whose first audio track is another codec, an AAC track whose
 * header leaves the channel layout to a PCE, or frames that lose sync, is "unusable" with a reason.
 */
export function readAdtsTrack(ts: Uint8Array): AdtsTrack | AdtsUnusable {
  let pmtPid = -1;
  let audioPid = -1;
  let audioType = -1;
  let startTicks: number | undefined;
  let inPes = false;
  let unusable: string | undefined;
  const payload: Uint8Array[] = [];
  const lost = walkTsPackets(ts, (packet) => {
    if (unusable !== undefined) return;
    const { pid, unitStart } = packet;
    if (pid === 0 && unitStart && pmtPid < 0) {
      pmtPid = firstProgramPid(psiSection(ts, packet));
    } else if (pid === pmtPid && unitStart && audioPid < 0) {
      const audio = pmtStreams(psiSection(ts, packet)).find((s) => AUDIO_STREAM_TYPES.has(s.streamType));
      if (!audio) return;
      ({ pid: audioPid, streamType: audioType } = audio);
      if (audioType !== STREAM_TYPE_ADTS_AAC) unusable = `the first audio track is MPEG-TS stream type 0x${audioType.toString(16)}, not AAC in ADTS`;
    } else if (pid === audioPid) {
      let p = packet.from;
      if (unitStart) {
        const pes = pesHeader(ts, packet);
        if (!pes) {
          unusable = 'an audio PES does not start with a start code';
          return;
        }
        startTicks ??= pes.pts;
        p = pes.payload;
        inPes = true;
      }
      if (inPes && p < packet.to) payload.push(ts.subarray(p, packet.to));
    }
  });
  if (unusable !== undefined) return { unusable };
  if (lost >= 0) return { unusable: `no MPEG-TS sync byte at offset ${lost}` };
  if (audioPid < 0) return { unusable: 'no audio track' };
  if (startTicks === undefined) return { unusable: 'no timed audio PES' };
  return splitAdts(concat(payload), startTicks / 90_000);
}

function splitAdts(es: Uint8Array, startSeconds: number): AdtsTrack | AdtsUnusable {
  const frames: Uint8Array[] = [];
  let samples = 0;
  let sampleRate = 0;
  let channels = 0;
  for (let i = 0; i < es.length; ) {
    if (i + 7 > es.length || es[i] !== 0xff || (es[i + 1]! & 0xf6) !== 0xf0) return { unusable: `ADTS sync lost at byte ${i} of the audio track` };
    const length = ((es[i + 3]! & 3) << 11) | (es[i + 4]! << 3) | (es[i + 5]! >> 5);
    if (length < 7 || i + length > es.length) return { unusable: `ADTS frame at byte ${i} claims ${length} bytes` };
    const rate = ADTS_RATES[(es[i + 2]! >> 2) & 0xf];
    const ch = ((es[i + 2]! & 1) << 2) | (es[i + 3]! >> 6);
    if (rate === undefined) return { unusable: 'ADTS header has a reserved sample rate index' };
    if (ch === 0) return { unusable: 'ADTS channel layout is given by a PCE' };
    if (frames.length > 0 && (rate !== sampleRate || ch !== channels)) return { unusable: 'ADTS sample rate or channels change inside the segment' };
    sampleRate = rate;
    channels = ch;
    samples += ((es[i + 6]! & 3) + 1) * SAMPLES_PER_BLOCK;
    frames.push(es.subarray(i, i + length));
    i += length;
  }
  if (frames.length === 0) return { unusable: 'the audio track holds no frames' };
  return { startSeconds, sampleRate, channels, frames, samples };
}

/** Splits bytes that are whole ADTS frames back into frames (what a stage carried to the next segment). */
export function splitAdtsFrames(es: Uint8Array): AdtsTrack | AdtsUnusable {
  return splitAdts(es, 0);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
