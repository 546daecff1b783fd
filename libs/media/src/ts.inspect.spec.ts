// Real ffmpeg makes the segments and ffprobe is the reference: the in-process inspection replaces
// an ffprobe run per segment, so it must agree with ffprobe on every segment a stage meets.
import { randomBytes, randomInt } from 'node:crypto';
import { MediaInputError } from '@livemesh/contracts';
import { runFfmpeg, runFfprobe } from './ffmpeg.runner.js';
import { checkInspection, inspectTs } from './ts.inspect.js';

const T = 60_000;
const PACKET = 188;
const VIDEO_PID = 256;
const PMT_PID = 4096;

interface Case {
  name: string;
  size: string;
  fps: number;
  encode: string[];
  audio: boolean;
}

const CASES: Case[] = [
  // The benchmark segment too: 2 s of 720p at a bitrate that makes it about 1 MB.
  { name: '1280x720 high 30 fps with audio', size: '1280x720', fps: 30, encode: ['-c:v', 'libx264', '-profile:v', 'high', '-b:v', '4000k'], audio: true },
  { name: '854x480 main 25 fps, no audio', size: '854x480', fps: 25, encode: ['-c:v', 'libx264', '-profile:v', 'main'], audio: false },
  { name: '1278x718 high 25 fps with audio', size: '1278x718', fps: 25, encode: ['-c:v', 'libx264', '-profile:v', 'high'], audio: true },
  { name: '640x360 baseline 30 fps (pic_order_cnt type 2)', size: '640x360', fps: 30, encode: ['-c:v', 'libx264', '-profile:v', 'baseline'], audio: true },
  { name: '640x360 high, interlaced (field-coded: crop in field pairs)', size: '640x360', fps: 25, encode: ['-c:v', 'libx264', '-flags', '+ildct+ilme', '-x264-params', 'interlaced=1'], audio: false },
  { name: '1278x716 High 4:2:2 10-bit', size: '1278x716', fps: 25, encode: ['-c:v', 'libx264', '-pix_fmt', 'yuv422p10le'], audio: false },
  { name: '1278x718 High 4:4:4 (crop in luma samples)', size: '1278x718', fps: 30, encode: ['-c:v', 'libx264', '-pix_fmt', 'yuv444p'], audio: true },
  { name: '1278x718 HEVC', size: '1278x718', fps: 25, encode: ['-c:v', 'libx265', '-x265-params', 'log-level=error'], audio: true },
  { name: '640x360 HEVC with temporal sub-layers', size: '640x360', fps: 30, encode: ['-c:v', 'libx265', '-x265-params', 'log-level=error:temporal-layers=1'], audio: false },
];

interface Reference {
  width: number;
  height: number;
  fps: number;
  frames: number;
  firstVideo: number;
  firstAudio?: number;
  mediaSeconds: number;
}

const segments = new Map<string, Uint8Array>();
let hd: Uint8Array;

function encode(c: Case): Promise<Uint8Array> {
  const [w, h] = c.size.split('x');
  return runFfmpeg([
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${c.fps}`,
    ...(c.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-map', '0:v', '-map', '1:a', '-c:a', 'aac', '-b:a', '64k'] : []),
    '-t', '2', '-preset', 'veryfast', '-g', String(2 * c.fps), ...c.encode, '-f', 'mpegts', 'pipe:1',
  ], { timeoutMs: T }).then((r) => new Uint8Array(r.stdout));
}

/** What ffprobe says about a segment: the answer the stage SDK used to get from its ffprobe run. */
async function reference(ts: Uint8Array): Promise<Reference> {
  const { stdout } = await runFfprobe(['-v', 'error', '-f', 'mpegts', '-show_streams', '-show_entries', 'packet=stream_index,pts_time,duration_time', '-of', 'json', '-i', 'pipe:0'], { input: ts, timeoutMs: T });
  const out = JSON.parse(stdout.toString()) as {
    streams: { index: number; codec_type: string; width?: number; height?: number; r_frame_rate: string }[];
    packets: { stream_index: number; pts_time: string; duration_time?: string }[];
  };
  const v = out.streams.find((s) => s.codec_type === 'video')!;
  const a = out.streams.find((s) => s.codec_type === 'audio');
  const pts = (index: number | undefined): number[] => out.packets.filter((p) => p.stream_index === index).map((p) => Number(p.pts_time));
  const [num, den] = v.r_frame_rate.split('/').map(Number);
  const ends = out.packets.map((p) => Number(p.pts_time) + Number(p.duration_time ?? 0));
  const starts = out.packets.map((p) => Number(p.pts_time));
  return {
    width: v.width!, height: v.height!, fps: num! / den!, frames: pts(v.index).length, firstVideo: Math.min(...pts(v.index)),
    ...(a ? { firstAudio: Math.min(...pts(a.index)) } : {}),
    mediaSeconds: Math.max(...ends) - Math.min(...starts),
  };
}

/** Runs `f` on hostile bytes: it must return, or throw a MediaInputError and nothing else. */
function returnsOrRefuses(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof MediaInputError)) throw new Error(`threw ${String(e)} instead of a MediaInputError`, { cause: e });
    expect(e.message).toMatch(/^unusable input: |video stream on PID \d+ /);
  }
}

/** Calls `edit(offset, pid, payloadStart)` for every packet of a copy of `ts`, which it returns. */
function editPackets(ts: Uint8Array, edit: (b: Uint8Array, o: number, pid: number, unitStart: boolean, payload: number) => void): Uint8Array {
  const b = Uint8Array.from(ts);
  for (let o = 0; o < b.length; o += PACKET) {
    const control = (b[o + 3]! >> 4) & 3;
    edit(b, o, ((b[o + 1]! & 0x1f) << 8) | b[o + 2]!, (b[o + 1]! & 0x40) !== 0, control & 2 ? o + 5 + b[o + 4]! : o + 4);
  }
  return b;
}

function setPid(b: Uint8Array, o: number, pid: number): void {
  b[o + 1] = (b[o + 1]! & 0xe0) | (pid >> 8);
  b[o + 2] = pid & 0xff;
}

beforeAll(async () => {
  const encoded = await Promise.all(CASES.map(encode));
  CASES.forEach((c, i) => segments.set(c.name, encoded[i]!));
  hd = encoded[0]!;
}, 120_000);

describe('inspectTs on real segments', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('agrees with ffprobe: %s', async (_name, c) => {
    const ts = segments.get(c.name)!;
    const got = inspectTs(ts);
    const want = await reference(ts);
    expect(got.video).toMatchObject({ pid: VIDEO_PID, codec: c.encode.includes('libx265') ? 'hevc' : 'h264', width: want.width, height: want.height, frames: want.frames, keyFrameFirst: true });
    expect(`${want.width}x${want.height}`).toBe(c.size);
    expect(got.video!.firstPts).toBeCloseTo(want.firstVideo, 6);
    expect(got.video!.fps).toBeCloseTo(want.fps, 6);
    expect(got.video!.fps).toBeCloseTo(c.fps, 6);
    if (c.audio) {
      expect(got.audio).toMatchObject({ codec: 'aac', streamType: 0x0f });
      expect(got.audio!.firstPts).toBeCloseTo(want.firstAudio!, 6);
    } else {
      expect(got.audio).toBeUndefined();
    }
    expect(Math.abs(got.mediaSeconds! - want.mediaSeconds)).toBeLessThan(0.05);
    expect(() => checkInspection(got, { duration: 2 })).not.toThrow();
  });

  it('reads a 1 MB segment in well under 5 ms', () => {
    expect(hd.length).toBeGreaterThan(900_000);
    for (let i = 0; i < 20; i++) inspectTs(hd);
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      inspectTs(hd);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    expect(times[25]).toBeLessThan(5);
  });

  it('tells a segment that starts on a key frame from one that does not, by the IDR slice or the random access flag', () => {
    const noRandomAccess = editPackets(hd, (b, o) => {
      if (b[o + 3]! & 0x20 && b[o + 4]! > 0) b[o + 5]! &= ~0x40;
    });
    expect(inspectTs(noRandomAccess).video!.keyFrameFirst).toBe(true);
    // The first IDR slice header (nal_ref_idc 3, type 5) made a non-IDR slice (type 1).
    const idr = Buffer.from(hd).indexOf(Buffer.from([0, 0, 1, 0x65]));
    const noIdr = Uint8Array.from(hd);
    noIdr[idr + 3] = 0x61;
    expect(inspectTs(noIdr).video!.keyFrameFirst).toBe(true);
    noRandomAccess[idr + 3] = 0x61;
    expect(inspectTs(noRandomAccess).video!.keyFrameFirst).toBe(false);
  });

  it('refuses a segment that lost its second half by the duration rule, only for a header of 1 s or more', async () => {
    // Cut where the 28th video PES starts (0.9 s into 2 s): whole packets, the second half gone.
    let pes = 0;
    let cut = 0;
    editPackets(hd, (_b, o, pid, start) => {
      if (pid === VIDEO_PID && start && ++pes === 28) cut = o;
    });
    const half = hd.subarray(0, cut);
    const got = inspectTs(half);
    expect(got.mediaSeconds).toBeLessThan(1);
    expect(Math.abs(got.mediaSeconds! - (await reference(half)).mediaSeconds)).toBeLessThan(0.05);
    expect(() => checkInspection(got, { duration: 2 })).toThrow(/^unusable input: segment is truncated: it holds 0\.\d{3} s of media but its header says 2\.000 s$/);
    expect(() => checkInspection(got, { duration: 0.9 * 2 * got.mediaSeconds! })).not.toThrow();
    expect(() => checkInspection({ ...got, mediaSeconds: 0.4 }, { duration: 0.99 })).not.toThrow();
  });

  it('refuses a picture above the limit', () => {
    const got = inspectTs(hd);
    expect(() => checkInspection(got, { duration: 2 }, { maxWidth: 1280, maxHeight: 720 })).not.toThrow();
    expect(() => checkInspection(got, { duration: 2 }, { maxWidth: 1279, maxHeight: 720 })).toThrow('video stream on PID 256 is 1280x720, above the 1279x720 limit');
  });
});

describe('inspectTs on a forged SPS', () => {
  it('reads the 16384x16384 a forged SPS claims (emulation prevention and pic_order_cnt type 1 included) and checkInspection refuses it', () => {
    const sps = forgedSps(1024, 1024);
    expect(Buffer.from(sps).includes(Buffer.from([0, 0, 3]))).toBe(true);
    const ts = muxVideo([
      [0x09, 0xf0], [0x67, ...sps], [0x68, 0xce, 0x38, 0x80], [0x65, 0x88, 0x84, 0x00, 0x33],
    ], 2);
    const got = inspectTs(ts);
    expect(got.video).toMatchObject({ codec: 'h264', width: 16384, height: 16384, frames: 2, fps: 30, keyFrameFirst: true });
    expect(() => checkInspection(got, { duration: 0.5 })).toThrow(new MediaInputError('video stream on PID 256 is 16384x16384, above the 7680x4320 limit', '', null));
    expect(() => checkInspection(got, { duration: 0.5 })).toThrow(MediaInputError);
  });

  it('refuses an H.264 stream whose SPS cannot be read, as ffprobe-based checks refused one without dimensions', () => {
    const ts = muxVideo([[0x09, 0xf0], [0x67, 0x42, 0xc0], [0x65, 0x88, 0x84]], 2);
    const got = inspectTs(ts);
    expect(got.video!.width).toBeUndefined();
    expect(() => checkInspection(got, { duration: 0.5 })).toThrow('video stream on PID 256 has no usable dimensions (undefinedxundefined)');
  });
});

describe('inspectTs on SPS fields x264 and x265 do not write', () => {
  it('skips H.264 scaling lists, the default-list shortcut included, and crops 1088 to 1080', () => {
    const sps = rbsp((w) => {
      w.u(8, 100); w.u(8, 0); w.u(8, 40); w.ue(0); // High profile
      w.ue(1); w.ue(0); w.ue(0); w.u(1, 0); // 4:2:0, 8-bit, no transform bypass
      w.u(1, 1); // seq_scaling_matrix_present_flag
      for (let i = 0; i < 8; i++) {
        w.u(1, i === 0 || i === 6 ? 1 : 0);
        if (i === 0) for (let j = 0; j < 16; j++) w.se(j % 2 ? 3 : -1);
        if (i === 6) w.se(-8); // next scale 0: the default list, nothing more to read
      }
      w.ue(0); w.ue(0); w.ue(2); // frame_num bits, pic_order_cnt type 0 and its lsb bits
      w.ue(4); w.u(1, 0); w.ue(119); w.ue(67); w.u(1, 1); w.u(1, 1); // refs, 120x68 macroblocks
      w.u(1, 1); w.ue(0); w.ue(0); w.ue(0); w.ue(4); w.u(1, 0); // crop 4 chroma rows (8 lines), no VUI
    });
    const got = inspectTs(muxVideo([[0x09, 0xf0], [0x67, ...sps], [0x65, 0x88]], 2));
    expect(got.video).toMatchObject({ width: 1920, height: 1080 });
  });

  it('skips the HEVC sub-layer profile and level fields', () => {
    const sps = rbsp((w) => {
      w.u(4, 0); w.u(3, 1); w.u(1, 1); // VPS id, two sub-layers, temporal id nesting
      w.u(96, 0); // general profile, tier and level
      w.u(1, 1); w.u(1, 1); w.u(14, 0); // sub-layer profile and level present, reserved bits
      w.u(88, 0); w.u(8, 0); // the sub-layer's profile and level
      w.ue(0); w.ue(1); w.ue(1920); w.ue(1088); // SPS id, 4:2:0, coded size
      w.u(1, 1); w.ue(0); w.ue(0); w.ue(0); w.ue(4); // conformance window: 4 chroma rows off the bottom
    });
    const got = inspectTs(muxVideo([[0x46, 0x01, 0x10], [0x42, 0x01, ...sps], [0x26, 0x01, 0xaf]], 2, 0x24));
    expect(got.video).toMatchObject({ codec: 'hevc', width: 1920, height: 1080, keyFrameFirst: true });
  });
});

describe('inspectTs across the 33-bit PTS wrap', () => {
  const WRAP = 2 ** 33;
  const au = [[0x09, 0xf0], [0x65, 0x88, 0x84]];

  it('keeps the durations of a segment that crosses the wrap positive, whichever side comes first', () => {
    for (const times of [[WRAP - 6000, WRAP - 3000, 0, 3000], [WRAP - 3000, 3000, WRAP - 6000, 0], [0, WRAP - 6000, 3000, WRAP - 3000]]) {
      const got = inspectTs(muxVideo(au, times));
      expect(got.video).toMatchObject({ frames: 4, fps: 30 });
      expect(got.video!.firstPts).toBeCloseTo((WRAP - 6000) / 90_000, 6);
      expect(got.video!.lastPts).toBeCloseTo((WRAP + 3000) / 90_000, 6);
      expect(got.mediaSeconds).toBeCloseTo(4 / 30, 6);
    }
  });
});

describe('inspectTs on unusable input', () => {
  const refused = (b: Uint8Array, message: RegExp): void => {
    let error: unknown;
    try {
      inspectTs(b);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MediaInputError);
    expect((error as Error).message).toMatch(message);
  };

  it('says why for each kind of bytes no stage can use', () => {
    refused(new Uint8Array(0), /^unusable input: segment is empty \(0 bytes\)$/);
    refused(Buffer.from('\0\0\0\x20ftypisom'), /^unusable input: segment is not MPEG-TS: it starts with 0x00000020 instead of the 0x47 sync byte \(it looks like MP4\/QuickTime\)$/);
    refused(hd.subarray(0, hd.length - 100), /^unusable input: segment is truncated: \d+ bytes is not a whole number of 188-byte MPEG-TS packets$/);
    const lost = Uint8Array.from(hd);
    lost[10 * PACKET] = 0x48;
    refused(lost, /^unusable input: segment lost MPEG-TS sync: no 0x47 sync byte at offset 1880$/);
    refused(editPackets(hd, (b, o, pid) => pid === 0 && setPid(b, o, 0x1fff)), /^unusable input: segment has no PAT/);
    refused(editPackets(hd, (b, o, pid) => pid === PMT_PID && setPid(b, o, 0x1fff)), /^unusable input: segment has no PMT .* on PID 4096$/);
    const dataOnly = editPackets(hd, (b, o, pid, _start, p) => {
      if (pid !== PMT_PID) return;
      const s = p + 1 + b[p]!;
      const end = s + 3 + (((b[s + 1]! & 0xf) << 8) | b[s + 2]!) - 4;
      for (let q = s + 12 + (((b[s + 10]! & 0xf) << 8) | b[s + 11]!); q + 5 <= end; q += 5 + (((b[q + 3]! & 0xf) << 8) | b[q + 4]!)) b[q] = 0x05;
    });
    refused(dataOnly, /^unusable input: segment has no audio or video stream \(its PMT lists stream types 0x5, 0x5\)$/);
    const untimed = editPackets(hd, (b, _o, pid, start, p) => {
      if (start && (pid === VIDEO_PID || pid === VIDEO_PID + 1)) b[p + 7]! &= 0x3f;
    });
    refused(untimed, /^unusable input: segment has no audio or video packets with a timestamp/);
  });

  it('returns or throws a MediaInputError, and nothing else, on random bytes', () => {
    for (let i = 0; i < 500; i++) {
      const b = randomBytes(PACKET * randomInt(1, 40));
      // Mostly with sync bytes and PID 0 or the PMT PID, so the bytes reach the PSI and PES readers.
      if (i % 5) for (let o = 0; o < b.length; o += PACKET) {
        b[o] = 0x47;
        if (i % 3 === 0) setPid(b, o, [0, PMT_PID, VIDEO_PID, VIDEO_PID + 1][randomInt(4)]!);
      }
      returnsOrRefuses(() => checkInspection(inspectTs(b), { duration: 2 }));
    }
  });

  it('returns or throws a MediaInputError on real segments cut anywhere or with bytes changed', () => {
    for (const ts of segments.values()) {
      for (let i = 0; i < 40; i++) returnsOrRefuses(() => checkInspection(inspectTs(ts.subarray(0, randomInt(ts.length))), { duration: 2 }));
      for (let i = 0; i < 40; i++) {
        const b = Uint8Array.from(ts);
        // The first 8 KB hold the PAT, the PMT and the first access unit's parameter sets.
        const span = i % 2 ? b.length : 8192;
        for (let k = 0; k < 1 + randomInt(40); k++) b[randomInt(span)] = randomInt(256);
        returnsOrRefuses(() => checkInspection(inspectTs(b), { duration: 2 }));
      }
    }
  });
});

interface BitWriter {
  u(n: number, v: number): void;
  ue(v: number): void;
  se(v: number): void;
}

/** An RBSP written field by field, with its stop bit and emulation-prevention bytes: a NAL payload. */
function rbsp(write: (w: BitWriter) => void): number[] {
  const bits: number[] = [];
  const w: BitWriter = {
    u: (n, v) => {
      for (let i = n - 1; i >= 0; i--) bits.push(Math.floor(v / 2 ** i) % 2);
    },
    ue: (v) => {
      const n = Math.floor(Math.log2(v + 1));
      w.u(n, 0);
      w.u(n + 1, v + 1);
    },
    se: (v) => w.ue(v > 0 ? 2 * v - 1 : -2 * v),
  };
  write(w);
  w.u(1, 1);
  while (bits.length % 8) bits.push(0);
  const out: number[] = [];
  for (let i = 0; i < bits.length; i += 8) {
    const b = parseInt(bits.slice(i, i + 8).join(''), 2);
    if (out.length >= 2 && out[out.length - 1] === 0 && out[out.length - 2] === 0 && b <= 3) out.push(3);
    out.push(b);
  }
  return out;
}

/** An H.264 baseline SPS with pic_order_cnt type 1. */
function forgedSps(widthMbs: number, heightMbs: number): number[] {
  return rbsp((w) => {
    w.u(8, 66); w.u(8, 0xc0); w.u(8, 40); w.ue(0); // profile, constraints, level, sps id
    // frame_num bits, then pic_order_cnt type 1 with a cycle whose long zero runs need emulation prevention
    w.ue(0); w.ue(1); w.u(1, 0); w.se(-2); w.se(3); w.ue(3); w.se(32768); w.se(32768); w.se(-1);
    w.ue(1); w.u(1, 0); w.ue(widthMbs - 1); w.ue(heightMbs - 1); w.u(1, 1); w.u(1, 1); w.u(1, 0); w.u(1, 0); // refs, size, frame_mbs_only, no crop, no VUI
  });
}

/** A minimal MPEG-TS segment: PAT, PMT with one H.264 stream, and one access unit made of `nals` at each PTS (ticks). */
function muxVideo(nals: number[][], frames: number | number[], streamType = 0x1b): Uint8Array {
  const packets: number[][] = [];
  const psi = (pid: number, section: number[]): void => {
    const body = [0x47, 0x40 | (pid >> 8), pid & 0xff, 0x10, 0, ...section, ...crc32(section)];
    packets.push([...body, ...new Array<number>(PACKET - body.length).fill(0xff)]);
  };
  psi(0, [0x00, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]);
  psi(PMT_PID, [0x02, 0xb0, 18, 0, 1, 0xc1, 0, 0, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0, streamType, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0]);
  const es = nals.flatMap((n) => [0, 0, 0, 1, ...n]);
  const times = typeof frames === 'number' ? Array.from({ length: frames }, (_, f) => 126_000 + 3000 * f) : frames;
  times.forEach((pts, f) => {
    const [high, mid, low] = [Math.floor(pts / 2 ** 30), Math.floor(pts / 2 ** 15) % 2 ** 15, pts % 2 ** 15];
    const pes = [0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21 | (high << 1), mid >> 7, ((mid << 1) & 0xfe) | 1, low >> 7, ((low << 1) & 0xfe) | 1, ...es];
    // One packet per access unit here: stuffing in the adaptation field fills it.
    const stuffing = PACKET - 4 - pes.length - 2;
    packets.push([0x47, 0x40 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0x30 | (f & 0xf), stuffing + 1, f === 0 ? 0x40 : 0, ...new Array<number>(stuffing).fill(0xff), ...pes]);
  });
  return Uint8Array.from(packets.flat());
}

function crc32(bytes: number[]): number[] {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return [(crc >>> 24) & 0xff, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff];
}
