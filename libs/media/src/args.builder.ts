import { ValidationFailedError } from '@livemesh/contracts';

export type X264Preset = 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium' | 'slow';

export interface VideoEncode {
  preset?: X264Preset;
  /** Constant quality (0..51); ignored when bitrateKbps is set. */
  crf?: number;
  bitrateKbps?: number;
  maxrateKbps?: number;
  bufsizeKbps?: number;
  profile?: 'baseline' | 'main' | 'high';
  threads?: number;
}

export interface AudioEncode {
  codec: 'aac';
  bitrateKbps: number;
  sampleRate?: 44100 | 48000;
  channels?: 1 | 2;
}

export interface UrlSource {
  url: string;
  /** ffmpeg protocols the URL may use (and any it opens in turn, e.g. `tcp` under `rtmp`). */
  protocols: string[];
  /**
   * The egress proxy every http(s) request of this input goes through (`-http_proxy`): redirects
   * and playlist entries included. Only a proxy on loopback.
   */
  httpProxy?: string;
  /** The RTMP tcUrl to announce (`-rtmp_tcurl`) when the URL names the checked address instead of the host. */
  rtmpTcUrl?: string;
}

export interface InputOptions {
  source: 'pipe' | UrlSource | { file: string };
  /** Force the container instead of probing it (`mpegts` for segments). */
  format?: string;
  /** Largest single allocation ffmpeg may make; bounds what a forged header can make it reserve. */
  maxAllocBytes?: number;
  /** Default `error`; `info` prints the input report (the source's start time and streams). */
  logLevel?: 'error' | 'info';
  /** Options of this input itself (e.g. `-rw_timeout` for a network source), placed just before its `-i`. */
  inputOptions?: string[];
}

const DEFAULT_MAX_ALLOC = 512 * 1024 * 1024;
const PROTOCOL = /^[a-z][a-z0-9_]{0,15}$/;
const FORMAT = /^[a-z0-9_,]{1,32}$/;

function invalid(what: string, problems: string[]): never {
  throw new ValidationFailedError(`invalid ${what}`, problems);
}

/**
 * Global and input options that harden a run against hostile input: no stdin reads, no protocol
 * the source does not need (a crafted playlist cannot make ffmpeg open `file:` or `http:`), a
 * bounded probe and bounded allocations. Ends with `-i <input>`.
 */
export function inputArgs(o: InputOptions): string[] {
  const maxAlloc = o.maxAllocBytes ?? DEFAULT_MAX_ALLOC;
  if (!Number.isInteger(maxAlloc) || maxAlloc < 1024 * 1024) invalid('input options', ['maxAllocBytes must be an integer >= 1 MiB']);
  if (o.format !== undefined && !FORMAT.test(o.format)) invalid('input options', ['format must be an ffmpeg format name']);
  let whitelist: string;
  let target: string;
  const networkOptions: string[] = [];
  if (o.source === 'pipe') {
    whitelist = 'pipe';
    target = 'pipe:0';
  } else if ('file' in o.source) {
    if (o.source.file === '') invalid('input options', ['file is empty']);
    whitelist = 'file';
    // `file:` so a name like `rtmp:x` or `-y` stays a local path.
    target = `file:${o.source.file}`;
  } else {
    const { url, protocols } = o.source;
    const bad = protocols.filter((p) => !PROTOCOL.test(p));
    if (protocols.length === 0 || bad.length > 0) invalid('input options', [`protocols must be ffmpeg protocol names, got ${JSON.stringify(protocols)}`]);
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
    if (!scheme || !protocols.includes(scheme)) invalid('input options', [`the URL's scheme must be one of ${protocols.join(',')}`]);
    whitelist = protocols.join(',');
    target = url;
    if (o.source.httpProxy !== undefined) {
      if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):\d{1,5}$/.test(o.source.httpProxy)) invalid('input options', ['httpProxy must be http://127.0.0.1:<port>']);
      networkOptions.push('-http_proxy', o.source.httpProxy);
    }
    if (o.source.rtmpTcUrl !== undefined) {
      if (!/^rtmps?:\/\/[\x21-\x7e]{1,2040}$/.test(o.source.rtmpTcUrl)) invalid('input options', ['rtmpTcUrl must be an rtmp(s):// URL']);
      networkOptions.push('-rtmp_tcurl', o.source.rtmpTcUrl);
    }
  }
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel', o.logLevel ?? 'error',
    '-max_alloc', String(maxAlloc),
    '-protocol_whitelist', whitelist,
    '-probesize', '5000000',
    '-analyzeduration', '5000000',
    ...(o.format ? ['-f', o.format] : []),
    ...(o.inputOptions ?? []),
    ...networkOptions,
    '-i', target,
  ];
}

/**
 * What a hop hands on when the next hop decodes and encodes the video again (HopSpec.handOff):
 * only the hop before delivery pays for the delivery encode. Measured with ffmpeg 5.1 / x264
 * r3095 on 10 x 2 s 720p30 segments (ingest's veryfast crf 21 as input, watermark drawtext, then
 * transcode 854x480 1200k veryfast), CPU seconds per media second, against a crf 23 veryfast hand-off:
 *
 *   source      hand-off         encode  decode  bytes/segment  PSNR   both hops  final PSNR
 *   testsrc2    veryfast crf 23  0.20    0.07    0.74 MB        44.3   0.47       43.0
 *   testsrc2    ultrafast crf 18 0.10    0.05    2.3 MB         55.3   0.38       44.0
 *   mandelbrot  veryfast crf 23  0.28    0.12    1.5 MB (2.0)   40.0   0.68       37.1
 *   mandelbrot  ultrafast crf 18 0.14    0.08    4.5 MB (5.6)   48.4   0.51       37.5
 *   grainy      veryfast crf 23  0.72    0.36    4.6 MB         41.2   1.53       39.2
 *   grainy      ultrafast crf 18 0.25    0.15    10.5 MB        45.7   0.88       39.8
 *
 * ultrafast because it leaves out CABAC and deblocking: superfast at the same crf costs 1.9x the
 * encode and 2x the next hop's decode for nothing at the end. crf 18 rather than lower: crf 12 and
 * lossless (qp 0) gain under 0.1 dB at the end for 1.4x and 2-3x the bytes (a lossless mandelbrot
 * segment is up to 16.7 MB, and decodes slower than crf 23's). Bytes: mean (max); grainy is
 * testsrc2 with noise=alls=8:allf=t. A clean 720p mezzanine stays well under the 8 MiB inline
 * limit; a grainy one (10.5 MB) and a detailed 1080p one (testsrc2 5.2 MB, mandelbrot up to
 * 9.8 MB) pass it and travel by claim check like any large segment.
 */
export const MEZZANINE_ENCODE: Readonly<VideoEncode> = Object.freeze({ preset: 'ultrafast', crf: 18 });

function checkVideo(v: VideoEncode): void {
  const p: string[] = [];
  const int = (k: string, x: number | undefined, lo: number, hi: number) => {
    if (x !== undefined && (!Number.isInteger(x) || x < lo || x > hi)) p.push(`${k} must be an integer ${lo}..${hi}`);
  };
  int('crf', v.crf, 0, 51);
  int('bitrateKbps', v.bitrateKbps, 50, 100_000);
  int('maxrateKbps', v.maxrateKbps, 50, 100_000);
  int('bufsizeKbps', v.bufsizeKbps, 50, 200_000);
  int('threads', v.threads, 0, 64);
  if (p.length > 0) invalid('video encode options', p);
}

/**
 * libx264 options for one self-contained segment.
 * - `-bf 0`: B-frames make DTS run behind PTS; on a segment whose first frame is at PTS 0 that DTS
 *   is negative, which ffmpeg either shifts (moving the whole segment off the source timeline) or
 *   writes wrapped. Without B-frames DTS == PTS, and a stage adds no reorder delay either.
 * - `-g 1000 -sc_threshold 0`: one GOP per segment. A fresh encoder always opens with an IDR, so
 *   every segment starts on a key frame; no extra ones inside (scene cuts) that cost bits.
 */
export function x264Args(v: VideoEncode): string[] {
  checkVideo(v);
  const rate = v.bitrateKbps !== undefined
    ? ['-b:v', `${v.bitrateKbps}k`, '-maxrate', `${v.maxrateKbps ?? v.bitrateKbps}k`, '-bufsize', `${v.bufsizeKbps ?? 2 * v.bitrateKbps}k`]
    : ['-crf', String(v.crf ?? 23), ...(v.maxrateKbps !== undefined ? ['-maxrate', `${v.maxrateKbps}k`, '-bufsize', `${v.bufsizeKbps ?? 2 * v.maxrateKbps}k`] : [])];
  return [
    '-c:v', 'libx264',
    '-preset', v.preset ?? 'veryfast',
    '-profile:v', v.profile ?? 'high',
    '-pix_fmt', 'yuv420p',
    '-bf', '0',
    '-g', '1000',
    '-sc_threshold', '0',
    ...rate,
    ...(v.threads !== undefined ? ['-threads', String(v.threads)] : []),
  ];
}

function audioEncodeArgs(a: AudioEncode): string[] {
  if (!Number.isInteger(a.bitrateKbps) || a.bitrateKbps < 16 || a.bitrateKbps > 512) invalid('audio encode options', ['bitrateKbps must be an integer 16..512']);
  return ['-c:a', 'aac', '-b:a', `${a.bitrateKbps}k`, ...(a.sampleRate ? ['-ar', String(a.sampleRate)] : []), ...(a.channels ? ['-ac', String(a.channels)] : [])];
}

export interface SegmentStageOptions {
  /** A filter chain from the filter builders (never user text). */
  videoFilter?: string;
  video: VideoEncode | 'copy';
  audio: 'copy' | AudioEncode;
  audioFilter?: string;
  /** Which encoded audio packets are written (see keepAudioPacketsArgs); all by default. */
  keepAudioPackets?: AudioPacketRange;
  /** Source-timeline seconds at which the video gets a key frame besides its first (see forceKeyFramesArgs). */
  forceKeyFramesAt?: readonly number[];
  maxAllocBytes?: number;
}

/** At most this many forced key frames per segment: a cut every few frames is noise, not scenes. */
export const MAX_FORCED_KEY_FRAMES = 64;

/**
 * `-force_key_frames` at source-timeline seconds (with `-copyts` the encoder sees source time):
 * each time gets a key frame on the first frame at or after it. Times must be finite and >= 0;
 * they are sorted, deduplicated and written with millisecond precision. Empty -> no options.
 */
export function forceKeyFramesArgs(times: readonly number[]): string[] {
  const bad = times.filter((t) => typeof t !== 'number' || !Number.isFinite(t) || t < 0);
  if (bad.length) invalid('forced key frames', [`times must be finite seconds >= 0 (got ${bad.slice(0, 3).join(', ')})`]);
  if (times.length > MAX_FORCED_KEY_FRAMES) invalid('forced key frames', [`at most ${MAX_FORCED_KEY_FRAMES} times`]);
  const list = [...new Set(times.map((t) => t.toFixed(3)))].sort((a, b) => Number(a) - Number(b));
  return list.length ? ['-force_key_frames', list.join(',')] : [];
}

/** Encoded audio packets by index, [from, to): 0 is a fresh AAC encoder's priming packet; no `to` keeps the rest. */
export interface AudioPacketRange {
  from: number;
  to?: number;
}

/** The bitstream filter that drops the encoded audio packets outside `r`, counted from the encoder's first. */
function keepAudioPacketsArgs(r: AudioPacketRange): string[] {
  return ['-bsf:a', `noise=drop=lt(n\\,${r.from})${r.to === undefined ? '' : `+gte(n\\,${r.to})`}`];
}

/**
 * One MPEG-TS segment on stdin -> one MPEG-TS segment on stdout, on the source timeline, so that
 * delivery can concatenate the hops' outputs into one playlist without a discontinuity.
 * - `-copyts`: keep the input's timestamps instead of restarting each segment at 0.
 * - `-muxdelay 0 -muxpreload 0`: the MPEG-TS muxer otherwise adds 0.7 s + 0.7 s to every PTS, so
 *   each hop would move the timeline 1.4 s later.
 * - `-avoid_negative_ts disabled`: the first segment of a stream can hold audio priming samples
 *   just below 0; the default shifts every stream of the segment up to hide them.
 * - `-fps_mode passthrough`: one frame out per frame in with its own timestamp, never duplicated
 *   or dropped to fit a frame rate.
 * - audio is copied by default: a fresh AAC encoder per segment adds its own priming and padding,
 *   so neighbouring segments overlap and players stall at every boundary.
 */
export function segmentStageArgs(o: SegmentStageOptions): string[] {
  if (o.video === 'copy' && o.videoFilter) invalid('stage options', ['a video filter needs video encoding, not copy']);
  if (o.audio === 'copy' && o.audioFilter) invalid('stage options', ['an audio filter needs audio encoding, not copy']);
  if (o.audio === 'copy' && o.keepAudioPackets) invalid('stage options', ['choosing audio packets needs audio encoding, not copy']);
  if (o.video === 'copy' && o.forceKeyFramesAt?.length) invalid('stage options', ['forcing key frames needs video encoding, not copy']);
  return [
    '-copyts',
    ...inputArgs({ source: 'pipe', format: 'mpegts', maxAllocBytes: o.maxAllocBytes }),
    '-map', '0:v:0?',
    '-map', '0:a:0?',
    ...(o.videoFilter ? ['-filter:v', o.videoFilter] : []),
    ...(o.video === 'copy' ? ['-c:v', 'copy'] : x264OnSourceTimeline(o.video)),
    ...(o.video !== 'copy' && o.forceKeyFramesAt ? forceKeyFramesArgs(o.forceKeyFramesAt) : []),
    ...(o.audioFilter ? ['-filter:a', o.audioFilter] : []),
    ...(o.audio === 'copy' ? ['-c:a', 'copy'] : audioEncodeArgs(o.audio)),
    ...(o.keepAudioPackets ? keepAudioPacketsArgs(o.keepAudioPackets) : []),
    ...mpegtsOnSourceTimeline(),
  ];
}

export interface CarriedAudioStageOptions {
  /**
   * ADTS file: the frames the previous segment left (when any), then this segment's. Decoding
   * them as one stream gives this segment's first frame its predecessor, as a player would.
   */
  adtsFile: string;
  /** Decoded samples to discard first: the first carried frame, which had no predecessor. */
  dropSamples: number;
  /** Samples of silence put in front of what is left (when the previous segment left nothing). */
  padSamples: number;
  /** Sample rate of the decoded audio (the ADTS header's). */
  sampleRate: number;
  /** Source time of the first sample after the drop and the pad, in samples at sampleRate. */
  startSample: number;
  /** Filters applied on the source timeline (`t` is source time), from the filter builders. */
  audioFilter: string;
  /**
   * Which encoded packets are written, by index (0 is the encoder's priming packet, packet k >= 1
   * starts (k - 1) * 1024 samples after startSample): [from, to).
   */
  keepPackets: Required<AudioPacketRange>;
  audio: AudioEncode;
  maxAllocBytes?: number;
}

/**
 * A segment whose audio is re-encoded across its joins: video copied from the segment on stdin,
 * audio decoded from the ADTS file, placed on the source timeline, filtered, encoded, and cut to
 * the packets whose MDCT windows saw only real signal (see the audio service for which).
 */
export function carriedAudioStageArgs(o: CarriedAudioStageOptions): string[] {
  const p: string[] = [];
  const int = (k: string, x: number, lo: number) => {
    if (!Number.isSafeInteger(x) || x < lo) p.push(`${k} must be an integer >= ${lo}`);
  };
  int('dropSamples', o.dropSamples, 0);
  int('padSamples', o.padSamples, 0);
  int('sampleRate', o.sampleRate, 8000);
  int('startSample', o.startSample, 0);
  int('keepPackets.from', o.keepPackets.from, 1);
  int('keepPackets.to', o.keepPackets.to, 1);
  if (o.keepPackets.to < o.keepPackets.from) p.push('keepPackets.to must not be below keepPackets.from');
  if (p.length > 0) invalid('carried audio options', p);
  const chain = [
    'asetpts=PTS-STARTPTS',
    ...(o.dropSamples > 0 ? [`atrim=start_sample=${o.dropSamples}`, 'asetpts=PTS-STARTPTS'] : []),
    ...(o.padSamples > 0 ? [`adelay=delays=${o.padSamples}S:all=1`] : []),
    // After aresample the time base is 1/sampleRate, so the start is a whole number of ticks:
    // asetpts truncates, and seconds / TB in floating point can land a hair below.
    `aresample=${o.sampleRate}`,
    `asetpts=PTS-STARTPTS+${o.startSample}`,
    ...(o.audioFilter ? [o.audioFilter] : []),
  ];
  return [
    '-copyts',
    ...inputArgs({ source: { file: o.adtsFile }, format: 'aac', maxAllocBytes: o.maxAllocBytes }),
    ...inputArgs({ source: 'pipe', format: 'mpegts', maxAllocBytes: o.maxAllocBytes }),
    // The segment's own audio is read and thrown away: when ffmpeg 5.1 discards that stream, it
    // moves the copied video to start at 0 (measured: 0.05 s -> 0), off the source timeline.
    '-filter_complex', `[0:a:0]${chain.join(',')}[a];[1:a:0]anullsink`,
    '-map', '1:v:0?',
    '-map', '[a]',
    '-c:v', 'copy',
    ...audioEncodeArgs(o.audio),
    ...keepAudioPacketsArgs(o.keepPackets),
    ...mpegtsOnSourceTimeline(),
  ];
}

/**
 * H.264 whose encoder keeps the demuxer's 90 kHz time base. With libx264's default of
 * 1/frame-rate every PTS off that grid is rounded (RTMP sources have millisecond timestamps): a
 * segment starting at 2.021333 s would come out at 2.04 s and every hop would move the timeline.
 * `timeBase` is `-1` (the input's) or, for frames fed without one, `1/90000`.
 */
export function x264OnSourceTimeline(v: VideoEncode, timeBase: '-1' | '1/90000' = '-1'): string[] {
  return [...x264Args(v), '-enc_time_base:v', timeBase];
}

/**
 * The output options of every stage: MPEG-TS that moves no timestamp. One frame out per frame in;
 * a first segment's negative audio priming is not shifted (ffmpeg would shift every track of the
 * segment up to hide it); no mux delay (without it each hop adds 1.4 s).
 */
export function mpegtsOnSourceTimeline(target = 'pipe:1'): string[] {
  return ['-fps_mode', 'passthrough', '-avoid_negative_ts', 'disabled', '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', target];
}

export interface ReaderOptions {
  source: UrlSource;
  /** A source silent this long ends the reader (`-rw_timeout`), ms. */
  rwTimeoutMs: number;
}

/**
 * Ingest's reader: the source copied as it is (`-copyts`: its own clock) into MPEG-TS on stdout,
 * for a segmenter reading `pipe` to cut. At `info` it prints the input report, whose `start:` is
 * the source's first timestamp: ingest plans the segmenter's offset from it before starting it.
 */
export function readerArgs(o: ReaderOptions): string[] {
  if (!Number.isInteger(o.rwTimeoutMs) || o.rwTimeoutMs < 1000 || o.rwTimeoutMs > 600_000) invalid('reader options', ['rwTimeoutMs must be an integer 1000..600000']);
  return [
    '-nostats',
    '-copyts',
    ...inputArgs({ source: o.source, logLevel: 'info', inputOptions: ['-rw_timeout', String(o.rwTimeoutMs * 1000)] }),
    '-map', '0:v:0?',
    '-map', '0:a:0?',
    '-c', 'copy',
    '-avoid_negative_ts', 'disabled',
    '-muxdelay', '0',
    '-muxpreload', '0',
    '-mpegts_copyts', '1',
    '-f', 'mpegts',
    'pipe:1',
  ];
}

export interface SegmenterOptions {
  /** `pipe`: MPEG-TS on stdin (ingest's reader). */
  input: UrlSource | { file: string } | 'pipe';
  segmentSeconds: number;
  /** Where segment files go, with one `%d`-style counter, e.g. `/tmp/x/seg_%06d.ts`. */
  outputPattern: string;
  listTarget: 'pipe:1';
  /**
   * Shift the timeline so the source's first timestamp is 0 (default true). The segment muxer cuts
   * at multiples of segmentSeconds counted from 0, so a source whose clock starts at, say, 3600 s
   * would be cut at every key frame until it caught up. RTMP starts near 0 anyway.
   */
  startAtZero?: boolean;
  maxAllocBytes?: number;
  /**
   * Re-encode the audio (default: copy). For a source whose audio is not AAC: every stage and
   * player downstream expects AAC, and one long-running encoder here joins its frames seamlessly.
   */
  audio?: AudioEncode;
  /**
   * Seconds added to every timestamp written (`-initial_offset`), after the segment muxer decided
   * its cuts on the run's own 0-based clock: cut points stay every segmentSeconds, and the output
   * continues a stream whose earlier runs ended there. Default 0 (none).
   */
  initialOffset?: number;
  /** Machine-readable progress (`out_time_us=` ...) on stderr every 0.5 s, instead of the stats line. */
  progress?: boolean;
}

function checkSegmenter(o: SegmenterOptions): void {
  const p: string[] = [];
  if (!Number.isInteger(o.segmentSeconds) || o.segmentSeconds < 1 || o.segmentSeconds > 10) p.push('segmentSeconds must be an integer 1..10');
  // ffmpeg expands every `%` in the pattern: exactly one counter, any other `%` doubled.
  const counters = o.outputPattern.replaceAll('%%', '').match(/%/g)?.length ?? 0;
  if (counters !== 1 || !/%0?\d{0,2}d/.test(o.outputPattern) || o.outputPattern.startsWith('-')) p.push('outputPattern must be a path with one %d counter');
  if (o.listTarget !== 'pipe:1') p.push('listTarget must be pipe:1');
  if (o.initialOffset !== undefined && !(Number.isFinite(o.initialOffset) && o.initialOffset >= 0)) p.push('initialOffset must be a finite number of seconds >= 0');
  if (p.length > 0) invalid('segmenter options', p);
}

function segmenterTail(o: SegmenterOptions): string[] {
  return [
    '-f', 'segment',
    '-segment_time', String(o.segmentSeconds),
    '-segment_format', 'mpegts',
    // The segment muxer opens one MPEG-TS muxer per file; this keeps each one off its own offset.
    '-segment_format_options', 'mpegts_copyts=1',
    '-reset_timestamps', '0',
    '-segment_list', o.listTarget,
    '-segment_list_type', 'csv',
    // +live: a line is written as soon as its segment is closed, not at the end.
    '-segment_list_flags', '+live',
    // A source with B-frames has a first DTS below its first PTS, so below 0 after -start_at_zero.
    // Left alone, the first segment's own MPEG-TS muxer shifts that one file up by the B-frame
    // delay and no later one, and the first join overlaps by it (66 ms for OBS's default x264).
    // Shifting here, once, before any segment muxer sees a packet, moves every segment alike.
    '-avoid_negative_ts', 'make_non_negative',
    '-muxdelay', '0',
    '-muxpreload', '0',
    ...(o.initialOffset !== undefined ? ['-initial_offset', o.initialOffset.toFixed(6)] : []),
    `file:${o.outputPattern}`,
  ];
}

function segmenterAudio(o: SegmenterOptions): string[] {
  return o.audio ? audioEncodeArgs(o.audio) : ['-c:a', 'copy'];
}

function segmenterHead(o: SegmenterOptions): string[] {
  checkSegmenter(o);
  const source = o.input === 'pipe' || 'url' in o.input ? o.input : { file: o.input.file };
  return [
    ...(o.progress ? ['-nostats', '-progress', 'pipe:2', '-stats_period', '0.5'] : []),
    '-copyts',
    ...(o.startAtZero ?? true ? ['-start_at_zero'] : []),
    ...inputArgs({ source, maxAllocBytes: o.maxAllocBytes }),
    '-map', '0:v:0?',
    '-map', '0:a:0?',
  ];
}

/**
 * Ingest: cut a live source into MPEG-TS segments on its own key frames, no re-encode. Each line
 * on stdout (`file,start,end`) announces a finished segment; see parseSegmentListLine.
 */
export function segmenterArgs(o: SegmenterOptions): string[] {
  return [...segmenterHead(o), '-c:v', 'copy', ...segmenterAudio(o), ...segmenterTail(o)];
}

/**
 * For sources whose GOP is longer than a segment: re-encode video with a key frame every
 * segmentSeconds (audio still copied). The expression counts from the previous forced key frame,
 * not from 0, so it also works on a timeline that does not start at 0.
 */
export function segmenterReencodeArgs(o: SegmenterOptions & { video: VideoEncode }): string[] {
  const n = o.segmentSeconds;
  return [
    ...segmenterHead(o),
    ...x264Args(o.video),
    '-force_key_frames', `expr:if(isnan(prev_forced_t),1,gte(t,prev_forced_t+${n}))`,
    ...segmenterAudio(o),
    ...segmenterTail(o),
  ];
}

export interface SegmentListEntry {
  file: string;
  /** Seconds on the output timeline. */
  start: number;
  end: number;
}

/** Parses one line of `-segment_list_type csv` (`file,start,end`; the name is quoted when needed). */
export function parseSegmentListLine(line: string): SegmentListEntry | undefined {
  const m = /^(?:"((?:[^"]|"")*)"|([^",]*)),(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)\s*$/.exec(line.trim());
  if (!m) return undefined;
  const file = m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] as string);
  const start = Number(m[3]);
  const end = Number(m[4]);
  if (file === '' || end < start) return undefined;
  return { file, start, end };
}

export interface TestSourceOptions {
  width: number;
  height: number;
  fps: number;
  /** Omit for an endless source (live push). */
  durationSec?: number;
  output: { url: string } | { file: string } | 'pipe';
  /** Read at native speed (`-re`), as a live camera would send. */
  realtime: boolean;
  format: 'flv' | 'mpegts' | 'mp4';
  /** Start the timeline here (seconds), to make a segment from the middle of a stream. */
  startSeconds?: number;
  /** Default true. */
  audio?: boolean;
}

/**
 * A test picture (testsrc2) and a 440 Hz tone, H.264 + AAC with a key frame every 2 s: what a
 * typical encoder pushes. Used by `npm start` to feed RTMP and by tests to make clips.
 */
export function testSourceArgs(o: TestSourceOptions): string[] {
  const p: string[] = [];
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 16 || o.height < 16 || o.width > 3840 || o.height > 2160 || o.width % 2 || o.height % 2) p.push('width and height must be even integers 16..3840x2160');
  if (!Number.isInteger(o.fps) || o.fps < 1 || o.fps > 120) p.push('fps must be an integer 1..120');
  if (o.durationSec !== undefined && !(o.durationSec > 0 && o.durationSec <= 86_400)) p.push('durationSec must be in (0, 86400]');
  if (o.startSeconds !== undefined && !(o.startSeconds >= 0 && o.startSeconds < 86_400)) p.push('startSeconds must be in [0, 86400)');
  if (p.length > 0) invalid('test source options', p);
  const re = o.realtime ? ['-re'] : [];
  const withAudio = o.audio ?? true;
  const target = o.output === 'pipe' ? 'pipe:1' : 'file' in o.output ? `file:${o.output.file}` : o.output.url;
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    ...re, '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
    ...(withAudio ? [...re, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'] : []),
    ...(o.durationSec !== undefined ? ['-t', String(o.durationSec)] : []),
    '-map', '0:v', ...(withAudio ? ['-map', '1:a'] : []),
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-g', String(2 * o.fps), '-keyint_min', String(2 * o.fps), '-sc_threshold', '0',
    ...(withAudio ? ['-c:a', 'aac', '-b:a', '64k', '-ar', '48000', '-ac', '2'] : []),
    ...(o.startSeconds ? ['-output_ts_offset', String(o.startSeconds)] : []),
    ...(o.format === 'mpegts' ? ['-muxdelay', '0', '-muxpreload', '0'] : []),
    ...(o.format === 'mp4' ? ['-movflags', '+faststart'] : []),
    '-f', o.format,
    target,
  ];
}
