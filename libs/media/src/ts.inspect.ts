/**
 * What a stage must know about an MPEG-TS segment before a decoder sees it, read in-process:
 * which streams it holds, the picture size its SPS claims, and how much media time it covers.
 * It replaces an ffprobe run per segment per hop (a process start each), so it reads only the
 * packet headers, the PSI, the PES headers and the first few NAL units of the video, and copies
 * no payload beyond a few KB. Every loop is bounded by the input; hostile bytes give a
 * MediaInputError or a result, nothing else.
 */
import { MediaInputError } from '@livemesh/contracts';
import { assertSanePicture, type DimensionLimits } from './probe.guard.js';
import {
  AUDIO_STREAM_TYPES,
  STREAM_TYPE_ADTS_AAC,
  STREAM_TYPE_H264,
  STREAM_TYPE_HEVC,
  STREAM_TYPE_LATM_AAC,
  TS_PACKET,
  VIDEO_STREAM_TYPES,
  firstProgramPid,
  pesHeader,
  pmtStreams,
  psiSection,
  walkTsPackets,
  type PmtStream,
  type TsPacket,
} from './ts.packets.js';
import { h264PictureSize, hevcPictureSize, type PictureSize } from './video.sps.js';

export interface TsInspection {
  video?: {
    pid: number;
    streamType: number;
    codec: 'h264' | 'hevc' | 'other';
    /** Picture size from the first SPS (cropping applied), when the codec is H.264 or HEVC and one was found. */
    width?: number;
    height?: number;
    /** PES packets (one access unit each, as every muxer we meet writes them). */
    frames: number;
    /** Earliest and latest presentation time, seconds. */
    firstPts: number;
    lastPts: number;
    /** Frames per second from the median PTS step, undefined with fewer than 2 frames. */
    fps?: number;
    /** The first access unit is an IDR (HEVC: IRAP) picture, or the muxer marked it random access. */
    keyFrameFirst: boolean;
  };
  audio?: {
    pid: number;
    streamType: number;
    codec: 'aac' | 'other';
    /** PES packets (a muxer may pack several audio frames in one). */
    frames: number;
    firstPts: number;
    lastPts: number;
  };
  /** Seconds from the earliest PTS to the latest, plus one frame (PES) duration of the stream that ends last. */
  mediaSeconds?: number;
}

const CLOCK = 90_000;
const PTS_WRAP = 2 ** 33;
/** Bytes of a video PES searched for the SPS and the first slice: past x264's SEI with room to spare. */
const NAL_SCAN_BYTES = 8192;

/** Reads a segment; throws MediaInputError with the reason when no stage could use it. */
export function inspectTs(data: Uint8Array): TsInspection {
  checkTsBytes(data);
  let pmtPid = -1;
  let video: Track | undefined;
  let audio: Track | undefined;
  const clock = new Unwrapper();
  const lost = walkTsPackets(data, (packet) => {
    if (packet.pid === 0 && packet.unitStart && pmtPid < 0) {
      pmtPid = firstProgramPid(psiSection(data, packet));
    } else if (packet.pid === pmtPid && packet.unitStart && !video && !audio) {
      const streams = pmtStreams(psiSection(data, packet));
      const v = streams.find((s) => VIDEO_STREAM_TYPES.has(s.streamType));
      const a = streams.find((s) => AUDIO_STREAM_TYPES.has(s.streamType) && s.pid !== v?.pid);
      if (v) video = new Track(v, true);
      if (a) audio = new Track(a, false);
      if (!v && !a) throw unusable(`segment has no audio or video stream (its PMT lists stream types ${streams.map((s) => `0x${s.streamType.toString(16)}`).join(', ') || 'none'})`);
    } else if (packet.pid === video?.pid) {
      video.add(data, packet, clock);
    } else if (packet.pid === audio?.pid) {
      audio.add(data, packet, clock);
    }
  });
  if (lost >= 0) throw unusable(`segment lost MPEG-TS sync: no 0x47 sync byte at offset ${lost}`);
  if (pmtPid < 0) throw unusable('segment has no PAT (program association table)');
  if (!video && !audio) throw unusable(`segment has no PMT (program map table) on PID ${pmtPid}`);
  video?.finish();
  const v = video?.timed(clock);
  const a = audio?.timed(clock);
  if (!v && !a) throw unusable('segment has no audio or video packets with a timestamp (PES PTS)');
  const result: TsInspection = {};
  if (v && video) {
    const codec = video.streamType === STREAM_TYPE_H264 ? 'h264' : video.streamType === STREAM_TYPE_HEVC ? 'hevc' : 'other';
    result.video = { pid: video.pid, streamType: video.streamType, codec, ...video.size, frames: v.frames, firstPts: v.first, lastPts: v.last, keyFrameFirst: video.keyFrameFirst };
    if (v.step > 0) result.video.fps = CLOCK / v.step;
  }
  if (a && audio) {
    result.audio = { pid: audio.pid, streamType: audio.streamType, codec: audio.streamType === STREAM_TYPE_ADTS_AAC || audio.streamType === STREAM_TYPE_LATM_AAC ? 'aac' : 'other', frames: a.frames, firstPts: a.first, lastPts: a.last };
  }
  const timed = [v, a].filter((t) => t !== undefined);
  const start = Math.min(...timed.map((t) => t.first));
  const end = Math.max(...timed.map((t) => t.last + t.step / CLOCK));
  if (end > start) result.mediaSeconds = end - start;
  return result;
}

/**
 * The rules a stage applies to an inspection: a picture above the size limit (a forged SPS can ask
 * a decoder for gigabytes per frame) and a segment holding under half the media its header says.
 */
export function checkInspection(inspection: TsInspection, meta: { duration: number }, limits?: DimensionLimits): void {
  const { video } = inspection;
  // Only H.264 and HEVC parameter sets are read: another codec's picture size is unknown here, so
  // it passes unchecked, where the ffprobe check saw it.
  if (video && video.codec !== 'other') assertSanePicture(`video stream on PID ${video.pid}`, video.width, video.height, limits);
  const measured = inspection.mediaSeconds;
  // Half of what the header says, with room for a short last segment of a publish: a segment
  // that lost its second half in transit, not one whose length ingest rounded.
  if (measured !== undefined && meta.duration >= 1 && measured < meta.duration / 2) {
    throw unusable(`segment is truncated: it holds ${measured.toFixed(3)} s of media but its header says ${meta.duration.toFixed(3)} s`);
  }
}

/**
 * The checks that need no parsing: not empty, MPEG-TS's sync byte first (naming the format when
 * it is a well-known other one), whole 188-byte packets (cut short in transit or on disk).
 */
export function checkTsBytes(data: Uint8Array): void {
  if (data.byteLength === 0) throw unusable('segment is empty (0 bytes)');
  if (data[0] !== 0x47) throw unusable(`segment is not MPEG-TS: it starts with 0x${Buffer.from(data.subarray(0, 4)).toString('hex')} instead of the 0x47 sync byte${sniff(data)}`);
  if (data.byteLength % TS_PACKET !== 0) throw unusable(`segment is truncated: ${data.byteLength} bytes is not a whole number of ${TS_PACKET}-byte MPEG-TS packets`);
}

/** Names what the bytes look like when they are a well-known other format, for a clearer error. */
function sniff(b: Uint8Array): string {
  const ascii = Buffer.from(b.subarray(0, 12)).toString('latin1');
  if (ascii.slice(4, 8) === 'ftyp') return ' (it looks like MP4/QuickTime)';
  if (ascii.startsWith('\x89PNG')) return ' (it looks like a PNG image)';
  if (b[0] === 0xff && b[1] === 0xd8) return ' (it looks like a JPEG image)';
  if (ascii.startsWith('FLV')) return ' (it looks like FLV)';
  if (ascii.startsWith('\x1aE\xdf\xa3')) return ' (it looks like Matroska/WebM)';
  if (ascii.startsWith('RIFF')) return ' (it looks like a RIFF file: WAV/AVI)';
  return '';
}

function unusable(reason: string): MediaInputError {
  return new MediaInputError(`unusable input: ${reason}`, '', null);
}

/**
 * Puts 33-bit PTS values on one line: each is taken within half the wrap of the segment's first
 * PTS, so a segment that crosses the wrap (every 26.5 h) keeps positive durations.
 */
class Unwrapper {
  private ref: number | undefined;
  private low = Infinity;

  place(pts: number): number {
    this.ref ??= pts;
    const at = pts - this.ref > PTS_WRAP / 2 ? pts - PTS_WRAP : this.ref - pts > PTS_WRAP / 2 ? pts + PTS_WRAP : pts;
    this.low = Math.min(this.low, at);
    return at;
  }

  /** Seconds, with the whole segment moved up one wrap when a PTS before the first one crossed it. */
  seconds(ticks: number): number {
    return (this.low < 0 ? ticks + PTS_WRAP : ticks) / CLOCK;
  }
}

/** One elementary stream's PES timestamps and, for video, what its first access units say. */
class Track {
  readonly pid: number;
  readonly streamType: number;
  private frames = 0;
  private readonly pts: number[] = [];
  size: Partial<PictureSize> = {};
  keyFrameFirst = false;
  /** The start of the current PES while an SPS is still wanted; undefined once it is found. */
  private scan: Uint8Array | undefined;
  private scanned = 0;

  constructor(stream: PmtStream, video: boolean) {
    this.pid = stream.pid;
    this.streamType = stream.streamType;
    if (video && (this.streamType === STREAM_TYPE_H264 || this.streamType === STREAM_TYPE_HEVC)) this.scan = new Uint8Array(NAL_SCAN_BYTES);
  }

  add(data: Uint8Array, packet: TsPacket, clock: Unwrapper): void {
    let from = packet.from;
    if (packet.unitStart) {
      const pes = pesHeader(data, packet);
      if (!pes) return;
      this.finish();
      if (this.frames === 0) this.keyFrameFirst = packet.randomAccess;
      this.frames++;
      if (pes.pts !== undefined) {
        this.pts.push(clock.place(pes.pts));
      }
      from = pes.payload;
    } else if (this.frames === 0) {
      return;
    }
    if (this.scan && this.scanned < this.scan.length) {
      const part = data.subarray(from, Math.min(packet.to, from + this.scan.length - this.scanned));
      this.scan.set(part, this.scanned);
      this.scanned += part.length;
    }
  }

  /** Reads the NAL units gathered from the PES that just ended. */
  finish(): void {
    if (!this.scan || this.scanned === 0) return;
    const nals = this.scan.subarray(0, this.scanned);
    this.scanned = 0;
    const first = this.frames === 1;
    const hevc = this.streamType === STREAM_TYPE_HEVC;
    for (let at = nextNal(nals, 0); at >= 0; ) {
      const next = nextNal(nals, at);
      const type = hevc ? (nals[at]! >> 1) & 0x3f : nals[at]! & 0x1f;
      const isSps = hevc ? type === 33 : type === 7;
      if (isSps && this.size.width === undefined) {
        const nal = nals.subarray(at, next < 0 ? nals.length : next);
        this.size = (hevc ? hevcPictureSize(nal) : h264PictureSize(nal)) ?? {};
      }
      // The first slice ends the headers of an access unit: no parameter set follows it.
      const slice = hevc ? type < 32 : type === 1 || type === 5;
      if (slice) {
        if (first) this.keyFrameFirst ||= hevc ? type >= 16 && type <= 23 : type === 5;
        break;
      }
      at = next;
    }
    if (this.size.width !== undefined) this.scan = undefined;
  }

  /** Frame count, earliest and latest PTS in seconds, and the median PTS step in ticks (0 with < 2 frames). */
  timed(clock: Unwrapper): { frames: number; first: number; last: number; step: number } | undefined {
    if (this.pts.length === 0) return undefined;
    const sorted = this.pts.sort((x, y) => x - y);
    const steps: number[] = [];
    for (let i = 1; i < sorted.length; i++) if (sorted[i]! > sorted[i - 1]!) steps.push(sorted[i]! - sorted[i - 1]!);
    steps.sort((x, y) => x - y);
    const step = steps.length > 0 ? steps[steps.length >> 1]! : 0;
    return { frames: this.frames, first: clock.seconds(sorted[0]!), last: clock.seconds(sorted[sorted.length - 1]!), step };
  }
}

/** Index of the NAL header after the next 0x000001 start code at or after `from + 1`, or -1. */
function nextNal(b: Uint8Array, from: number): number {
  for (let i = from; i + 3 < b.length; i++) {
    if (b[i + 2]! > 1) {
      i += 2;
    } else if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) {
      return i + 3;
    }
  }
  return -1;
}
