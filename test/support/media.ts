// Real media for e2e tests: small generated clips, ffprobe as JSON, and an HLS checker that
// downloads every segment of a media playlist and measures its timestamps, so a test can assert
// what a player needs (docs/design.md, "Segments and time"): one continuous timeline, no
// EXT-X-DISCONTINUITY, no gap or overlap between segments, every segment starting on a key frame.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { runFfmpeg, runFfprobe } from '@livemesh/media';
import { requireExecutable } from './tools.js';

// ---- running ffmpeg ----------------------------------------------------------------------------
// ffmpeg and ffprobe run through @livemesh/media's runner (argument array, timeout, stderr tail in
// the error); this file adds only what the product has no use for.

const ffmpeg = (): string => requireExecutable('ffmpeg', 'ffmpeg');
const ffprobe = (): string => requireExecutable('ffprobe', 'ffmpeg');

export interface PublishRtmpOptions {
  /**
   * Send at the clip's own pace (-re), like a live encoder. A refusal test needs it: without -re a
   * short clip can fit entirely into the socket buffers, and ffmpeg exits 0 before the refusal
   * reaches it. Without it ingest still holds the publisher until its segmenter listens. Default false.
   */
  realtime?: boolean;
  /** SIGKILL the encoder after this long, ms (then `code` is null). Default 120 000. */
  timeoutMs?: number;
  /** Ends the publish early: SIGINT, which ffmpeg takes as "finish the FLV and close". */
  signal?: AbortSignal;
}

/**
 * Pushes a clip over RTMP like an encoder (`-c copy -f flv`) and resolves once ffmpeg has exited,
 * with its exit code and error output; it never rejects, so a test can assert a refusal.
 */
export function publishRtmp(clip: string, url: string, options: PublishRtmpOptions = {}): Promise<{ code: number | null; stderr: string }> {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...(options.realtime ? ['-re'] : []), '-i', clip, '-c', 'copy', '-f', 'flv', url];
  return new Promise((resolve) => {
    const child = spawn(ffmpeg(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    options.signal?.addEventListener('abort', () => child.kill('SIGINT'), { once: true });
    child.once('error', (e) => (stderr += `ffmpeg could not start: ${e.message}`));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

// ---- clips -------------------------------------------------------------------------------------

export interface ClipOptions {
  seconds: number;
  width: number;
  height: number;
  fps: number;
  /** Output file; the container follows the extension: .ts (MPEG-TS), .flv, .mp4, .mkv. */
  out: string;
  /** Key frame every this many seconds (fixed GOP, no scene-cut key frames). Default 1. */
  keyframeSeconds?: number;
  /** Sine frequency of the audio track, Hz; `false` for no audio. Default 440. */
  audioHz?: number | false;
}

const CONTAINER: Record<string, string> = { '.ts': 'mpegts', '.flv': 'flv', '.mp4': 'mp4', '.mkv': 'matroska' };

/**
 * Writes a test clip: lavfi testsrc2 (moving picture with a frame counter) as H.264 and a sine tone
 * as AAC 48 kHz. Returns `out`. Fixed GOP so segmenters cut at predictable points.
 */
export async function generateClip(options: ClipOptions): Promise<string> {
  const { seconds, width, height, fps, out } = options;
  const format = CONTAINER[extname(out).toLowerCase()];
  if (!format) throw new Error(`generateClip: unknown container for ${out} (use ${Object.keys(CONTAINER).join(', ')})`);
  const gop = Math.max(1, Math.round(fps * (options.keyframeSeconds ?? 1)));
  const args = ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}:duration=${seconds}`];
  if (options.audioHz !== false) {
    args.push('-f', 'lavfi', '-i', `sine=frequency=${options.audioHz ?? 440}:sample_rate=48000:duration=${seconds}`);
  }
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0');
  if (options.audioHz !== false) args.push('-c:a', 'aac', '-b:a', '64k', '-ac', '2');
  if (format === 'mp4') args.push('-movflags', '+faststart');
  args.push('-f', format, out);
  await runFfmpeg(['-hide_banner', ...args], { timeoutMs: 120_000, ffmpegPath: ffmpeg() });
  return out;
}

// ---- ffprobe -----------------------------------------------------------------------------------

export interface ProbeStream {
  index: number;
  codec_type: 'video' | 'audio' | 'data' | 'subtitle' | string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  [key: string]: unknown;
}

export interface ProbePacket {
  stream_index: number;
  codec_type?: string;
  pts_time?: string;
  dts_time?: string;
  duration_time?: string;
  flags?: string;
  [key: string]: unknown;
}

export interface ProbeResult {
  format?: { format_name?: string; duration?: string; size?: string; [key: string]: unknown };
  streams: ProbeStream[];
  packets?: ProbePacket[];
}

/**
 * `ffprobe -show_format -show_streams` (plus `extraArgs`, e.g. ['-show_packets']) as parsed JSON.
 * Takes a file path or any URL ffprobe reads (http://, rtmp://, ...).
 */
export async function ffprobeJson(fileOrUrl: string, extraArgs: string[] = []): Promise<ProbeResult> {
  const { stdout } = await runFfprobe(['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...extraArgs, fileOrUrl], { timeoutMs: 60_000, ffprobePath: ffprobe() });
  const parsed = JSON.parse(stdout.toString('utf8')) as Partial<ProbeResult>;
  return { ...parsed, streams: parsed.streams ?? [] };
}

// ---- HLS ---------------------------------------------------------------------------------------

export interface PlaylistSegment {
  /** Media sequence number (EXT-X-MEDIA-SEQUENCE + position). */
  sequence: number;
  /** URI as written in the playlist, and resolved against the playlist URL. */
  uri: string;
  url: string;
  /** EXTINF duration, seconds. */
  duration: number;
  /** An EXT-X-DISCONTINUITY tag stands right before this segment. */
  discontinuityBefore: boolean;
}

export interface MediaPlaylist {
  url: string;
  version?: number;
  targetDuration?: number;
  mediaSequence: number;
  endList: boolean;
  /** Any EXT-X-DISCONTINUITY tag anywhere in the playlist. */
  discontinuity: boolean;
  segments: PlaylistSegment[];
  /** Variant URIs when this turned out to be a master playlist (then `segments` is empty). */
  variants: string[];
}

/** Parses an M3U8 text (master or media playlist); URIs are resolved against `baseUrl`. */
export function parseM3u8(text: string, baseUrl: string): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines[0] !== '#EXTM3U') throw new Error(`${baseUrl} is not an M3U8 playlist (first line: ${JSON.stringify(lines[0] ?? '')})`);
  const pl: MediaPlaylist = { url: baseUrl, mediaSequence: 0, endList: false, discontinuity: false, segments: [], variants: [] };
  let pendingDuration: number | undefined;
  let pendingDiscontinuity = false;
  let pendingVariant = false;
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) {
      const [tag, value = ''] = splitTag(line);
      switch (tag) {
        case '#EXT-X-VERSION': pl.version = Number(value); break;
        case '#EXT-X-TARGETDURATION': pl.targetDuration = Number(value); break;
        case '#EXT-X-MEDIA-SEQUENCE': pl.mediaSequence = Number(value); break;
        case '#EXT-X-ENDLIST': pl.endList = true; break;
        case '#EXT-X-DISCONTINUITY': pl.discontinuity = true; pendingDiscontinuity = true; break;
        case '#EXTINF': pendingDuration = Number(value.split(',')[0]); break;
        case '#EXT-X-STREAM-INF': pendingVariant = true; break;
        default: break;
      }
      continue;
    }
    const url = new URL(line, baseUrl).toString();
    if (pendingVariant) {
      pl.variants.push(url);
      pendingVariant = false;
      continue;
    }
    if (pendingDuration === undefined || Number.isNaN(pendingDuration)) throw new Error(`${baseUrl}: segment ${line} has no valid #EXTINF`);
    pl.segments.push({ sequence: pl.mediaSequence + pl.segments.length, uri: line, url, duration: pendingDuration, discontinuityBefore: pendingDiscontinuity });
    pendingDuration = undefined;
    pendingDiscontinuity = false;
  }
  return pl;
}

function splitTag(line: string): [string, string | undefined] {
  const i = line.indexOf(':');
  return i < 0 ? [line, undefined] : [line.slice(0, i), line.slice(i + 1)];
}

/** Timestamps of one elementary stream inside one segment, seconds on the source timeline. */
export interface TrackTimes {
  /** Lowest pts (presentation order; packets come in decode order). */
  first: number;
  /** Highest pts. */
  last: number;
  /** One frame / packet duration: from the packets, else the median pts step. */
  frameDuration: number;
  /** last + frameDuration: where the next segment of this track should begin. */
  end: number;
  packets: number;
  /** The packet with the lowest dts is a key frame (video only; always true for audio). */
  startsWithKeyframe: boolean;
}

export interface ProbedSegment extends PlaylistSegment {
  bytes: number;
  width?: number;
  height?: number;
  videoCodec?: string;
  audioCodec?: string;
  video: TrackTimes | null;
  audio: TrackTimes | null;
}

export interface HlsProbe extends Omit<MediaPlaylist, 'segments'> {
  /** The master playlist URL when `url` was reached through one (its first variant). */
  masterUrl?: string;
  segments: ProbedSegment[];
  /** Resolution of the first segment with video. */
  width?: number;
  height?: number;
}

export interface ProbeHlsOptions {
  /** Only the last N segments of the playlist (live playlists can be long). */
  lastSegments?: number;
  /** Per HTTP request, ms. Default 15 000. */
  timeoutMs?: number;
  /** Segments fetched and probed at once (a long playlist). Default 1. */
  concurrency?: number;
}

async function fetchOk(url: string, timeoutMs: number): Promise<Response> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url} -> HTTP ${res.status}`);
  return res;
}

/**
 * Fetches an HLS playlist (a master playlist is followed to its first variant), downloads every
 * segment and ffprobes each one's packets. The result feeds `assertContinuous`, or a test's own checks.
 */
export async function probeHls(url: string, options: ProbeHlsOptions = {}): Promise<HlsProbe> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  let playlist = parseM3u8(await (await fetchOk(url, timeoutMs)).text(), url);
  let masterUrl: string | undefined;
  if (playlist.variants.length > 0) {
    masterUrl = url;
    playlist = parseM3u8(await (await fetchOk(playlist.variants[0]!, timeoutMs)).text(), playlist.variants[0]!);
  }
  const wanted = options.lastSegments === undefined ? playlist.segments : playlist.segments.slice(-options.lastSegments);

  const dir = await mkdtemp(join(tmpdir(), 'livemesh-hls-'));
  try {
    const segments: ProbedSegment[] = new Array(wanted.length);
    let next = 0;
    const probeNext = async (): Promise<void> => {
      for (let i = next++; i < wanted.length; i = next++) {
        const seg = wanted[i]!;
        const body = Buffer.from(await (await fetchOk(seg.url, timeoutMs)).arrayBuffer());
        const file = join(dir, `${seg.sequence}${extname(new URL(seg.url).pathname) || '.ts'}`);
        await writeFile(file, body);
        segments[i] = { ...seg, bytes: body.length, ...(await probeSegment(file)) };
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, probeNext));
    const firstVideo = segments.find((s) => s.width !== undefined);
    return { ...playlist, masterUrl, segments, width: firstVideo?.width, height: firstVideo?.height };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function probeSegment(file: string): Promise<Pick<ProbedSegment, 'width' | 'height' | 'videoCodec' | 'audioCodec' | 'video' | 'audio'>> {
  // One ffprobe run for both tracks: packets carry their stream index, and streams say which is which.
  const probe = await ffprobeJson(file, ['-show_packets', '-show_entries', 'packet=stream_index,codec_type,pts_time,dts_time,duration_time,flags']);
  const v = probe.streams.find((s) => s.codec_type === 'video');
  const a = probe.streams.find((s) => s.codec_type === 'audio');
  const packets = probe.packets ?? [];
  return {
    width: v?.width,
    height: v?.height,
    videoCodec: v?.codec_name,
    audioCodec: a?.codec_name,
    video: v ? trackTimes(packets.filter((p) => p.stream_index === v.index), rate(v.avg_frame_rate) ?? rate(v.r_frame_rate), true) : null,
    audio: a ? trackTimes(packets.filter((p) => p.stream_index === a.index), undefined, false) : null,
  };
}

function rate(r: string | undefined): number | undefined {
  if (!r) return undefined;
  const [n, d] = r.split('/').map(Number);
  return n && d ? n / d : undefined;
}

function trackTimes(packets: ProbePacket[], fps: number | undefined, isVideo: boolean): TrackTimes | null {
  const withPts = packets.filter((p) => p.pts_time !== undefined && p.pts_time !== 'N/A');
  if (withPts.length === 0) return null;
  const pts = withPts.map((p) => Number(p.pts_time)).sort((x, y) => x - y);
  const durations = withPts.map((p) => Number(p.duration_time)).filter((d) => Number.isFinite(d) && d > 0);
  const steps = pts.slice(1).map((t, i) => t - pts[i]!).filter((d) => d > 0);
  const frameDuration = median(durations) ?? median(steps) ?? (fps ? 1 / fps : 0);
  const byDts = [...withPts].sort((x, y) => Number(x.dts_time ?? x.pts_time) - Number(y.dts_time ?? y.pts_time));
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  return {
    first,
    last,
    frameDuration,
    end: last + frameDuration,
    packets: withPts.length,
    startsWithKeyframe: isVideo ? (byDts[0]!.flags ?? '').includes('K') : true,
  };
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

// ---- the continuity check ----------------------------------------------------------------------

export interface ContinuityOptions {
  /** Slack on top of one frame/packet duration, seconds (MPEG-TS time is in 1/90000 s). Default 0.005. */
  toleranceSeconds?: number;
  /** Require an audio track in every segment. Default: only if the first segment has one. */
  audio?: boolean;
  /** Every segment must start with a key frame (players start decoding there). Default true. */
  keyframeStart?: boolean;
  /** Expected resolution of every segment. */
  size?: { width: number; height: number };
  /** Also check |EXTINF - measured video duration| <= this, seconds. Off by default. */
  extinfToleranceSeconds?: number;
  /** At least this many segments. Default 2 (continuity needs two). */
  minSegments?: number;
}

/**
 * Throws an Error listing every problem found, one per line, or returns quietly. Checks: no
 * EXT-X-DISCONTINUITY; consecutive sequence numbers; per track, each segment starts after the
 * previous one's last pts and no later than one frame/packet after it (+ tolerance), so there is
 * neither a gap nor an overlap; key-frame starts; resolution; optionally EXTINF accuracy.
 */
export function assertContinuous(result: HlsProbe, options: ContinuityOptions = {}): void {
  const tol = options.toleranceSeconds ?? 0.005;
  const problems: string[] = [];
  const segs = result.segments;
  const wantAudio = options.audio ?? segs[0]?.audio != null;
  const fmt = (t: number): string => t.toFixed(6);
  const name = (s: ProbedSegment): string => `#${s.sequence} (${s.uri})`;

  if (segs.length < (options.minSegments ?? 2)) problems.push(`only ${segs.length} segment(s) in ${result.url}; need at least ${options.minSegments ?? 2}`);
  if (result.discontinuity) {
    const at = segs.filter((s) => s.discontinuityBefore).map(name);
    problems.push(`EXT-X-DISCONTINUITY in the playlist${at.length ? ` before ${at.join(', ')}` : ''}`);
  }

  segs.forEach((s, i) => {
    if (!s.video) problems.push(`${name(s)}: no video packets`);
    if (wantAudio && !s.audio) problems.push(`${name(s)}: no audio packets`);
    if (s.video && (options.keyframeStart ?? true) && !s.video.startsWithKeyframe) problems.push(`${name(s)}: does not start with a key frame`);
    if (options.size && (s.width !== options.size.width || s.height !== options.size.height)) {
      problems.push(`${name(s)}: ${s.width}x${s.height}, expected ${options.size.width}x${options.size.height}`);
    }
    if (options.extinfToleranceSeconds !== undefined && s.video) {
      const measured = s.video.end - s.video.first;
      if (Math.abs(measured - s.duration) > options.extinfToleranceSeconds) {
        problems.push(`${name(s)}: EXTINF ${s.duration} but the video lasts ${fmt(measured)} s`);
      }
    }
    if (i === 0) return;
    const prev = segs[i - 1]!;
    if (s.sequence !== prev.sequence + 1) problems.push(`${name(s)}: sequence follows #${prev.sequence}`);
    for (const track of ['video', 'audio'] as const) {
      const a = prev[track];
      const b = s[track];
      if (!a || !b) continue;
      const step = b.first - a.last;
      const allowed = a.frameDuration + tol;
      if (b.first <= a.last) {
        problems.push(`${track} ${name(prev)} -> ${name(s)}: timestamps do not rise (next first pts ${fmt(b.first)} <= previous last pts ${fmt(a.last)}; overlap ${fmt(a.last - b.first + a.frameDuration)} s)`);
      } else if (step > allowed) {
        problems.push(`${track} ${name(prev)} -> ${name(s)}: gap of ${fmt(step - a.frameDuration)} s (previous last pts ${fmt(a.last)}, next first pts ${fmt(b.first)}, one ${track === 'video' ? 'frame' : 'packet'} = ${fmt(a.frameDuration)} s)`);
      } else if (step < a.frameDuration - tol) {
        problems.push(`${track} ${name(prev)} -> ${name(s)}: overlap of ${fmt(a.frameDuration - step)} s (previous last pts ${fmt(a.last)}, next first pts ${fmt(b.first)})`);
      }
    }
  });

  if (problems.length > 0) {
    throw new Error(`HLS ${result.url} is not continuous (${problems.length} problem(s)):\n  - ${problems.join('\n  - ')}`);
  }
}
