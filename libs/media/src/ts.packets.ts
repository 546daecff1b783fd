/**
 * The MPEG-TS layer both in-process readers share (the ADTS reader and the segment inspection):
 * packets, the PAT and PMT, and PES headers. Every read stays inside the bytes it is given, so a
 * hostile segment can make these return nothing, never throw or loop.
 */

export const TS_PACKET = 188;
export const STREAM_TYPE_ADTS_AAC = 0x0f;
export const STREAM_TYPE_LATM_AAC = 0x11;
export const STREAM_TYPE_H264 = 0x1b;
export const STREAM_TYPE_HEVC = 0x24;
/** MPEG-TS stream types ffmpeg reads as audio: the first of these in the PMT is what `0:a:0` maps. */
export const AUDIO_STREAM_TYPES: ReadonlySet<number> = new Set([0x03, 0x04, STREAM_TYPE_ADTS_AAC, STREAM_TYPE_LATM_AAC, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]);
/** The same for video: MPEG-1/2, MPEG-4 part 2, H.264, HEVC, CAVS, VVC, Dirac, VC-1. */
export const VIDEO_STREAM_TYPES: ReadonlySet<number> = new Set([0x01, 0x02, 0x10, STREAM_TYPE_H264, STREAM_TYPE_HEVC, 0x42, 0x33, 0xd1, 0xea]);

/** One packet that carries a payload; `from`..`to` are offsets into the segment bytes. */
export interface TsPacket {
  pid: number;
  /** payload_unit_start_indicator: a PES or a PSI section begins in this packet. */
  unitStart: boolean;
  /** The adaptation field's random_access_indicator: the muxer marks a key frame's first packet. */
  randomAccess: boolean;
  from: number;
  to: number;
}

/**
 * Calls `visit` for every whole packet of `ts` that carries a payload, in order. Returns the offset
 * of the first packet that does not start with the 0x47 sync byte (walking stops there), else -1.
 */
export function walkTsPackets(ts: Uint8Array, visit: (packet: TsPacket) => void): number {
  for (let o = 0; o + TS_PACKET <= ts.length; o += TS_PACKET) {
    if (ts[o] !== 0x47) return o;
    const control = (ts[o + 3]! >> 4) & 3;
    const adaptation = (control & 2) !== 0;
    const from = adaptation ? o + 5 + ts[o + 4]! : o + 4;
    const to = o + TS_PACKET;
    if (!(control & 1) || from >= to) continue;
    visit({
      pid: ((ts[o + 1]! & 0x1f) << 8) | ts[o + 2]!,
      unitStart: (ts[o + 1]! & 0x40) !== 0,
      randomAccess: adaptation && ts[o + 4]! > 0 && (ts[o + 5]! & 0x40) !== 0,
      from,
      to,
    });
  }
  return -1;
}

/** The PSI section that starts in a packet (after its pointer field); empty when the pointer leaves the packet. */
export function psiSection(ts: Uint8Array, packet: TsPacket): Uint8Array {
  return ts.subarray(Math.min(packet.to, packet.from + 1 + ts[packet.from]!), packet.to);
}

/** PMT PID of the first program in a PAT section, or -1. */
export function firstProgramPid(section: Uint8Array): number {
  if (section[0] !== 0x00) return -1;
  const length = ((section[1]! & 0xf) << 8) | section[2]!;
  for (let q = 8; q + 4 <= Math.min(section.length, 3 + length - 4); q += 4) {
    const program = (section[q]! << 8) | section[q + 1]!;
    if (program !== 0) return ((section[q + 2]! & 0x1f) << 8) | section[q + 3]!;
  }
  return -1;
}

export interface PmtStream {
  pid: number;
  streamType: number;
}

/** The elementary streams of a PMT section, in table order. */
export function pmtStreams(section: Uint8Array): PmtStream[] {
  const streams: PmtStream[] = [];
  if (section[0] !== 0x02 || section.length < 12) return streams;
  const end = Math.min(section.length, 3 + (((section[1]! & 0xf) << 8) | section[2]!) - 4);
  let q = 12 + (((section[10]! & 0xf) << 8) | section[11]!);
  while (q + 5 <= end) {
    streams.push({ streamType: section[q]!, pid: ((section[q + 1]! & 0x1f) << 8) | section[q + 2]! });
    q += 5 + (((section[q + 3]! & 0xf) << 8) | section[q + 4]!);
  }
  return streams;
}

export interface PesHeader {
  /** 33-bit presentation time on the 90 kHz clock, when the header has one. */
  pts?: number;
  /** Offset of the first elementary-stream byte (may equal the packet end). */
  payload: number;
}

/** The PES header at the start of a unit-start packet's payload, or undefined without a start code. */
export function pesHeader(ts: Uint8Array, packet: TsPacket): PesHeader | undefined {
  const p = packet.from;
  if (p + 9 > packet.to || ts[p] !== 0 || ts[p + 1] !== 0 || ts[p + 2] !== 1) return undefined;
  const payload = Math.min(packet.to, p + 9 + ts[p + 8]!);
  if (ts[p + 7]! & 0x80 && p + 14 <= payload) return { pts: readPts(ts, p + 9), payload };
  return { payload };
}

function readPts(b: Uint8Array, i: number): number {
  return ((b[i]! >> 1) & 7) * 2 ** 30 + ((b[i + 1]! << 7) | (b[i + 2]! >> 1)) * 2 ** 15 + ((b[i + 3]! << 7) | (b[i + 4]! >> 1));
}
