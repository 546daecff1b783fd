import { spawn, type ChildProcess } from 'node:child_process';
import { basename, join } from 'node:path';
import type { Logger } from '@nestjs/common';
import {
  SupervisedProcess,
  ffmpegNetworkEnv,
  inputArgs,
  isProgressLine,
  parseSegmentListLine,
  readLines,
  segmenterArgs,
  segmenterReencodeArgs,
  type AudioEncode,
  type ExitInfo,
  type SegmentListEntry,
  type UrlSource,
  type VideoEncode,
} from '@livemesh/media';
import type { RunTimeline } from './ingest.cursor.js';

export interface SegmenterRunOptions {
  streamId: string;
  ffmpegPath: string;
  input: UrlSource;
  segmentSeconds: number;
  /** Empty folder of this run; segment files appear here. */
  dir: string;
  /** A source silent this long ends the run (ffmpeg `-rw_timeout`), ms. */
  rwTimeoutMs: number;
  /** Re-encode video with a key frame every segment (a source whose GOPs are too long to cut). */
  reencode?: VideoEncode;
  /** Hides secrets (the publish key, URL credentials) in what gets logged. */
  redact: (text: string) => string;
  /** Maps the run onto the stream's output timeline, given the source's first timestamp. */
  plan: (sourceStart: number | undefined) => Promise<RunTimeline>;
  onSegment: (path: string, entry: SegmentListEntry, run: SegmenterRun) => void;
  /**
   * Media time of the run (seconds since its start) as ffmpeg reports its progress, with the end of
   * the last listed segment: lets the owner notice a segment that is growing far too long.
   */
  onProgress?: (mediaSeconds: number, lastListedEnd: number, run: SegmenterRun) => void;
}

/** Re-encode settings for a source whose GOPs are longer than a segment may be. */
export const REENCODE_VIDEO: VideoEncode = { preset: 'veryfast', crf: 21 };

/** Audio for a source whose audio is not AAC (MP3 over RTMP, MPEG-1 Layer II or AC-3 over SRT). */
export const REENCODE_AUDIO: AudioEncode = { codec: 'aac', bitrateKbps: 128 };

const PIPE_SOURCE: UrlSource = { url: 'pipe:0', protocols: ['pipe'] };

/**
 * The reader of a run: the source, copied as it is (`-copyts`: its own clock) into MPEG-TS on
 * stdout. At `info` it prints the input report, whose `start:` is the source's first timestamp:
 * the run is planned from it before the segmenter starts.
 */
export function readerArgs(o: Pick<SegmenterRunOptions, 'input' | 'rwTimeoutMs'>): string[] {
  return [
    '-nostats',
    '-copyts',
    ...inputArgs({ source: o.input, logLevel: 'info', inputOptions: ['-rw_timeout', String(o.rwTimeoutMs * 1000)] }),
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

/**
 * The segmenter of a run: libs/media's segmenter (copy or forced-key-frame re-encode, key-frame
 * cuts, `-copyts -start_at_zero`, CSV list on stdout) reading the reader's MPEG-TS on stdin, plus
 * the run's output offset and machine-readable progress on stderr. The segment muxer adds
 * `-initial_offset` to what it writes after deciding its cuts on the run's own 0-based clock: cut
 * points stay every segmentSeconds, and the output continues the stream.
 */
export function ingestSegmenterArgs(o: Pick<SegmenterRunOptions, 'segmentSeconds' | 'dir' | 'reencode'> & { offset: number; audio?: AudioEncode }): string[] {
  if (!Number.isFinite(o.offset) || o.offset < 0) throw new RangeError(`segmenter offset must be a finite number >= 0, got ${o.offset}`);
  const base = { input: PIPE_SOURCE, segmentSeconds: o.segmentSeconds, outputPattern: join(o.dir, 'seg_%06d.ts'), listTarget: 'pipe:1' as const, audio: o.audio };
  const args = o.reencode ? segmenterReencodeArgs({ ...base, video: o.reencode }) : segmenterArgs(base);
  const out = args.length - 1;
  return ['-nostats', '-progress', 'pipe:2', '-stats_period', '0.5', ...args.slice(0, out), '-initial_offset', o.offset.toFixed(6), args[out] as string];
}

const START_LINE = /^\s*Duration: .*, start: (-?\d+(?:\.\d+)?)/;
/** The input report's first audio stream, which is the one the reader maps (`0:a:0`): codec and profile. */
const AUDIO_LINE = /^\s*Stream #0:\d+\S*: Audio: ([A-Za-z0-9_]+)(?: \(([^)[]*)\))?/;

/**
 * The audio of a source as the reader's input report names it (`aac (LC)`, `aac (HE-AAC)`,
 * `mp3`, `mp2`, ...), when that line is its first audio stream; undefined for any other line.
 */
export function reportedAudio(line: string): string | undefined {
  const m = AUDIO_LINE.exec(line);
  return m ? (m[2] ? `${m[1]} (${m[2]})` : m[1]) : undefined;
}

/**
 * Whether ingest must re-encode that audio: anything but AAC-LC. HE-AAC decodes at twice its
 * header's rate, which the audio stage cannot carry across joins; the rest is not AAC at all.
 */
export function audioNeedsReencode(reported: string | undefined): boolean {
  if (reported === undefined) return false;
  return !/^aac(?: \((?:LC)\))?$/.test(reported);
}
const OUTPUT_LINE = /^Output #0/;
const OUT_TIME = /^out_time_us=(\d+)$/;
/** The input/output report and banner lines: not errors, kept out of the tail. */
const REPORT_LINE = /^\s|^(Input|Output) #|^Stream mapping|^Press \[q\]/;

/**
 * One ingest run of a stream: a reader ffmpeg (source -> MPEG-TS, source clock kept) piped into a
 * segmenter ffmpeg (cuts, lists each finished segment on stdout; the file goes to onSegment, whose
 * sink publishes and deletes it). Two processes so the segmenter's output offset can be chosen
 * from the source's first timestamp, which only the reader can tell, and only once it runs. Ends
 * when the source ends, on terminate() (the open segment is closed and listed first), or on
 * kill() (it is not).
 */
export class SegmenterRun {
  private reader?: ChildProcess;
  private segmenter?: SupervisedProcess;
  private readonly stderr: string[] = [];
  private stopping: 'terminate' | 'kill' | undefined;
  private finished = false;
  private lastListedEnd = 0;
  private readonly ended: Promise<ExitInfo>;
  private resolveEnded!: (info: ExitInfo) => void;
  /** The run's mapping onto the output timeline, once planned. */
  private timeline?: RunTimeline;
  private readonly readerArgs: string[];

  constructor(
    private readonly o: SegmenterRunOptions,
    private readonly logger: Logger,
  ) {
    this.readerArgs = readerArgs(o);
    this.ended = new Promise((r) => (this.resolveEnded = r));
  }

  // RunTimeline, as the sink reads it off the run.
  get offset(): number {
    return this.timeline?.offset ?? 0;
  }

  get sourceStart(): number | undefined {
    return this.timeline?.sourceStart;
  }

  get continued(): boolean {
    return this.timeline?.continued ?? false;
  }

  get reencoding(): boolean {
    return this.o.reencode !== undefined;
  }

  /** Starts the run; resolves when it has ended, for whatever reason. */
  start(): Promise<ExitInfo> {
    void this.runBoth().then(
      (info) => this.finish(info),
      (e: Error) => {
        this.logger.error(`stream ${this.o.streamId}: segmenter run failed: ${e.message}`);
        this.finish({ code: null, signal: null, expected: this.stopping !== undefined });
      },
    );
    return this.ended;
  }

  /** start() was called and the run has not ended yet. */
  get running(): boolean {
    return this.reader !== undefined && !this.finished;
  }

  /** Ends the input: the reader stops, the segmenter closes the open segment and lists it; SIGKILL after graceMs. */
  async terminate(graceMs: number): Promise<ExitInfo> {
    this.stopping ??= 'terminate';
    this.signalReader('SIGTERM');
    if (!this.segmenter) this.signalReader('SIGKILL');
    const timer = setTimeout(() => void this.kill(), graceMs);
    const info = await this.ended;
    clearTimeout(timer);
    return info;
  }

  /** SIGKILL to both: the open segment is abandoned, unlisted (the run's folder is removed after it). */
  async kill(): Promise<ExitInfo> {
    this.stopping = 'kill';
    this.signalReader('SIGKILL');
    await this.segmenter?.stop(0);
    return this.ended;
  }

  wait(): Promise<ExitInfo> {
    return this.ended;
  }

  /** ffmpeg's last error lines (reader and segmenter), redacted. */
  stderrTail(): string {
    return this.stderr.join(' | ');
  }

  private finish(info: ExitInfo): void {
    if (this.finished) return;
    this.finished = true;
    this.signalReader('SIGKILL');
    this.resolveEnded(info);
  }

  private async runBoth(): Promise<ExitInfo> {
    const { o } = this;
    this.logger.debug(`stream ${o.streamId}: reader ${o.ffmpegPath} ${this.readerArgs.map((a) => o.redact(a)).join(' ')}`);
    const reader = spawn(o.ffmpegPath, this.readerArgs, { stdio: ['ignore', 'pipe', 'pipe'], shell: false, windowsHide: true, env: ffmpegNetworkEnv() });
    this.reader = reader;
    const readerExit = new Promise<ExitInfo>((resolve) => {
      reader.once('error', (e) => {
        this.logger.error(`stream ${o.streamId}: cannot run ${o.ffmpegPath}: ${e.message}`);
        resolve({ code: null, signal: null, expected: false });
      });
      reader.once('close', (code, signal) => resolve({ code, signal, expected: this.stopping !== undefined }));
    });
    // The input report comes before any output: `start:` (the source clock), then `Output #0`.
    let audioCodec: string | undefined;
    const started = new Promise<number | undefined>((resolve) => {
      let sourceStart: number | undefined;
      readLines(reader.stderr, (line) => {
        const m = START_LINE.exec(line);
        if (m && sourceStart === undefined) sourceStart = Number(m[1]);
        audioCodec ??= reportedAudio(line);
        if (OUTPUT_LINE.test(line)) resolve(sourceStart);
        if (!REPORT_LINE.test(line)) this.keepStderr(`reader: ${line}`);
      });
      void readerExit.then(() => resolve(undefined));
    });
    const sourceStart = await started;
    if (this.reader.exitCode !== null || this.reader.signalCode !== null || this.stopping) {
      reader.stdout?.destroy();
      return readerExit;
    }
    this.timeline = await o.plan(sourceStart);
    if (this.stopping) {
      this.signalReader('SIGKILL');
      return readerExit;
    }
    // Every stage and player downstream expects AAC; one encoder here, running for the whole
    // source, also joins its frames without the clicks per-segment encoders would make.
    const audio = audioNeedsReencode(audioCodec) ? REENCODE_AUDIO : undefined;
    if (audio) this.logger.warn(`stream ${o.streamId}: the source's audio is ${audioCodec}, not AAC-LC: re-encoding it to AAC ${audio.bitrateKbps} kb/s`);
    const args = ingestSegmenterArgs({ segmentSeconds: o.segmentSeconds, dir: o.dir, reencode: o.reencode, offset: this.timeline.offset, audio });
    this.logger.debug(
      `stream ${o.streamId}: source starts at ${sourceStart ?? 'an unknown time'}; ${this.timeline.continued ? 'continues' : 'restarts'} the timeline at ${this.timeline.offset.toFixed(3)} s; segmenter ${o.ffmpegPath} ${args.join(' ')}`,
    );
    const segmenter = new SupervisedProcess(o.ffmpegPath, args, {
      stdin: 'pipe',
      onStdoutLine: (line) => this.onListLine(line),
      onStderrLine: (line) => this.onSegmenterStderr(line),
    });
    this.segmenter = segmenter;
    segmenter.on('start-failed', (e) => this.logger.error(`stream ${o.streamId}: cannot run ${o.ffmpegPath}: ${e.message}`));
    segmenter.start();
    const stdin = segmenter.stdin;
    if (stdin && reader.stdout) {
      // The segmenter gone (killed, crashed) must not take the process down with an EPIPE.
      stdin.on('error', () => undefined);
      reader.stdout.pipe(stdin);
    }
    const info = await segmenter.wait();
    this.signalReader('SIGKILL');
    const r = await readerExit;
    // The segmenter exits cleanly when its input ends; why the input ended is the reader's story.
    return info.code === 0 && !info.signal ? { ...r, expected: r.expected || this.stopping !== undefined } : info;
  }

  private signalReader(sig: NodeJS.Signals): void {
    const r = this.reader;
    if (!r || r.exitCode !== null || r.signalCode !== null) return;
    try {
      r.kill(sig);
    } catch {
      // ESRCH: already gone.
    }
  }

  private keepStderr(line: string): void {
    if (line.trim() === '') return;
    this.stderr.push(this.o.redact(line));
    if (this.stderr.length > 20) this.stderr.shift();
  }

  private onSegmenterStderr(line: string): void {
    if (isProgressLine(line)) {
      const t = OUT_TIME.exec(line);
      if (t && this.o.onProgress && !this.finished && this.stopping === undefined) this.o.onProgress(Number(t[1]) / 1e6, this.lastListedEnd, this);
      return;
    }
    if (!REPORT_LINE.test(line)) this.keepStderr(`segmenter: ${line}`);
  }

  private onListLine(line: string): void {
    // Killed: a segment ffmpeg still manages to close is the one that was abandoned on purpose.
    if (line.trim() === '' || this.stopping === 'kill') return;
    const entry = parseSegmentListLine(line);
    if (!entry) {
      this.logger.warn(`stream ${this.o.streamId}: unexpected segment list line ${JSON.stringify(this.o.redact(line))}`);
      return;
    }
    this.lastListedEnd = entry.end;
    // The list names files relative to the pattern's folder; never follow it elsewhere.
    this.o.onSegment(join(this.o.dir, basename(entry.file)), entry, this);
  }
}
