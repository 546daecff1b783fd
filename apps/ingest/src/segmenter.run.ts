import { basename, join } from 'node:path';
import type { Logger } from '@nestjs/common';
import {
  SupervisedProcess,
  ffmpegNetworkEnv,
  isProgressLine,
  parseSegmentListLine,
  readerArgs,
  segmenterArgs,
  segmenterReencodeArgs,
  type AudioEncode,
  type ExitInfo,
  type SegmenterOptions,
  type UrlSource,
  type VideoEncode,
} from '@livemesh/media';
import type { RunTimeline } from './ingest.cursor.js';
import type { SegmentSink } from './segment.sink.js';

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
  /**
   * Where the run's segments go (the stream's SegmentSink): the run asks it for its timeline once
   * the reader has told the source's first timestamp, then hands it each finished segment.
   */
  sink: RunSink;
}

/** What a run needs of the stream's sink. */
export type RunSink = Pick<SegmentSink, 'planRun' | 'push'>;

/** How a run ended: the exit of its processes, and whether it ended itself because the source's GOPs are too long to cut on. */
export interface RunExit extends ExitInfo {
  gopTooLong: boolean;
}

/**
 * A segment still open after this many segment lengths of media means the source's GOPs are too
 * long to cut on: the run ends itself, and the stream is re-encoded with forced key frames.
 */
export const LONG_SEGMENT_FACTOR = 2.5;

/** Re-encode settings for a source whose GOPs are longer than a segment may be. */
export const REENCODE_VIDEO: VideoEncode = { preset: 'veryfast', crf: 21 };

/** Audio for a source whose audio is not AAC (MP3 over RTMP, MPEG-1 Layer II or AC-3 over SRT). */
export const REENCODE_AUDIO: AudioEncode = { codec: 'aac', bitrateKbps: 128 };

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
 * segmenter ffmpeg (cuts, lists each finished segment on stdout; the file goes to the stream's
 * sink, which numbers, publishes and deletes it). Two processes so the segmenter's output offset
 * can be chosen from the source's first timestamp, which only the reader can tell, and only once
 * it runs: the run asks the sink for its timeline then. Ends when the source ends, on terminate()
 * (the open segment is closed and listed first), on kill() (it is not), or by itself when a
 * segment grows far past the segment length while video is copied (RunExit.gopTooLong).
 */
export class SegmenterRun {
  private reader?: SupervisedProcess;
  private segmenter?: SupervisedProcess;
  private readonly stderr: string[] = [];
  private stopping: 'terminate' | 'kill' | undefined;
  private finished = false;
  private lastListedEnd = 0;
  /** The source is being ended: what is cut from now on is kept as it is, however long. */
  private finishing = false;
  private gopTooLong = false;
  private readonly ended: Promise<RunExit>;
  private resolveEnded!: (info: RunExit) => void;
  /** The run's mapping onto the output timeline, once planned. */
  private timeline?: RunTimeline;
  private readonly readerArgs: string[];

  constructor(
    private readonly o: SegmenterRunOptions,
    private readonly logger: Logger,
  ) {
    this.readerArgs = readerArgs({ source: o.input, rwTimeoutMs: o.rwTimeoutMs });
    this.ended = new Promise((r) => (this.resolveEnded = r));
  }

  /** Starts the run; resolves when it has ended, for whatever reason. */
  start(): Promise<RunExit> {
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
  async terminate(graceMs: number): Promise<RunExit> {
    this.stopping ??= 'terminate';
    // Without a segmenter yet there is no open segment to close: the reader goes at once.
    this.stopReader(this.segmenter ? graceMs : 0);
    const timer = setTimeout(() => void this.kill(), graceMs);
    const info = await this.ended;
    clearTimeout(timer);
    return info;
  }

  /** SIGKILL to both: the open segment is abandoned, unlisted (the run's folder is removed after it). */
  async kill(): Promise<RunExit> {
    this.stopping = 'kill';
    this.stopReader(0);
    await this.segmenter?.stop(0);
    return this.ended;
  }

  wait(): Promise<RunExit> {
    return this.ended;
  }

  /** The source is being asked to end: the run no longer ends itself over a long segment, so what is left gets flushed. */
  finishAsItIs(): void {
    this.finishing = true;
  }

  /** ffmpeg's last error lines (reader and segmenter), redacted. */
  stderrTail(): string {
    return this.stderr.join(' | ');
  }

  private finish(info: ExitInfo): void {
    if (this.finished) return;
    this.finished = true;
    this.stopReader(0);
    this.resolveEnded({ ...info, gopTooLong: this.gopTooLong });
  }

  private async runBoth(): Promise<ExitInfo> {
    const { o } = this;
    this.logger.debug(`stream ${o.streamId}: reader ${o.ffmpegPath} ${this.readerArgs.map((a) => o.redact(a)).join(' ')}`);
    // The input report comes before any output: `start:` (the source clock), then `Output #0`.
    let reportedStart: number | undefined;
    let audioCodec: string | undefined;
    let resolveStarted!: (sourceStart: number | undefined) => void;
    const started = new Promise<number | undefined>((r) => (resolveStarted = r));
    const reader = new SupervisedProcess(o.ffmpegPath, this.readerArgs, {
      stdout: 'raw',
      env: ffmpegNetworkEnv(),
      onStderrLine: (line) => {
        const m = START_LINE.exec(line);
        if (m && reportedStart === undefined) reportedStart = Number(m[1]);
        audioCodec ??= reportedAudio(line);
        if (OUTPUT_LINE.test(line)) resolveStarted(reportedStart);
        if (!REPORT_LINE.test(line)) this.keepStderr(`reader: ${line}`);
      },
    });
    this.reader = reader;
    reader.on('start-failed', (e) => this.logger.error(`stream ${o.streamId}: cannot run ${o.ffmpegPath}: ${e.message}`));
    const readerExit = reader.wait().then((info) => ({ ...info, expected: this.stopping !== undefined }));
    void readerExit.then(() => resolveStarted(undefined));
    reader.start();
    const sourceStart = await started;
    if (!reader.isRunning || this.stopping) {
      reader.stdout?.destroy();
      return readerExit;
    }
    this.timeline = await o.sink.planRun(sourceStart);
    if (this.stopping) {
      this.stopReader(0);
      return readerExit;
    }
    // Every stage and player downstream expects AAC; one encoder here, running for the whole
    // source, also joins its frames without the clicks per-segment encoders would make.
    const audio = audioNeedsReencode(audioCodec) ? REENCODE_AUDIO : undefined;
    if (audio) this.logger.warn(`stream ${o.streamId}: the source's audio is ${audioCodec}, not AAC-LC: re-encoding it to AAC ${audio.bitrateKbps} kb/s`);
    const cut: SegmenterOptions = {
      input: 'pipe',
      segmentSeconds: o.segmentSeconds,
      outputPattern: join(o.dir, 'seg_%06d.ts'),
      listTarget: 'pipe:1',
      audio,
      initialOffset: this.timeline.offset,
      progress: true,
    };
    const args = o.reencode ? segmenterReencodeArgs({ ...cut, video: o.reencode }) : segmenterArgs(cut);
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
    this.stopReader(0);
    const r = await readerExit;
    // The segmenter exits cleanly when its input ends; why the input ended is the reader's story.
    return info.code === 0 && !info.signal ? { ...r, expected: r.expected || this.stopping !== undefined } : info;
  }

  /** SIGTERM to the reader, SIGKILL after graceMs (0: at once); nothing once it has ended. */
  private stopReader(graceMs: number): void {
    void this.reader?.stop(graceMs);
  }

  private keepStderr(line: string): void {
    if (line.trim() === '') return;
    this.stderr.push(this.o.redact(line));
    if (this.stderr.length > 20) this.stderr.shift();
  }

  private onSegmenterStderr(line: string): void {
    if (isProgressLine(line)) {
      const t = OUT_TIME.exec(line);
      if (t && Number(t[1]) / 1e6 - this.lastListedEnd > this.longSegmentSeconds) this.endOverLongSegment();
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
    if (entry.end - entry.start > this.longSegmentSeconds) this.endOverLongSegment();
    // The list names files relative to the pattern's folder; never follow it elsewhere. Listed
    // only once the timeline is planned (the segmenter starts after that).
    this.o.sink.push(join(this.o.dir, basename(entry.file)), entry, this.timeline as RunTimeline);
  }

  private get longSegmentSeconds(): number {
    return LONG_SEGMENT_FACTOR * this.o.segmentSeconds;
  }

  /**
   * The source's GOPs are too long to cut on (video copied). The open segment is abandoned
   * (killed, not flushed: flushing it would publish the over-long segment) and the run ends with
   * gopTooLong, so its session re-encodes from the next run on.
   */
  private endOverLongSegment(): void {
    if (this.o.reencode || this.finishing || this.finished || this.stopping !== undefined) return;
    this.gopTooLong = true;
    this.logger.warn(
      `stream ${this.o.streamId}: a segment grew past ${LONG_SEGMENT_FACTOR}x the segment length (source GOP too long); re-encoding with a key frame every segment from now on`,
    );
    void this.kill();
  }
}
